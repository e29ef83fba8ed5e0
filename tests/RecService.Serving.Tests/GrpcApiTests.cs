using Grpc.Core;
using Grpc.Health.V1;
using RecService.Api.V1;

namespace RecService.Serving.Tests;

public sealed class GrpcApiTests(ServedWorld served) : IClassFixture<ServedWorld>
{
    private Recommender.RecommenderClient Client => served.Replica.Client;
    private TestWorld World => served.World;

    [Fact]
    public async Task RecommendJson_over_grpc_carries_the_rest_body()
    {
        var user = TestWorld.UserId(4);
        var body = await Client.RecommendJsonAsync(new RecommendRequest { UserId = user, Count = 5 });
        Assert.Equal("application/json; charset=utf-8", body.ContentType);
        var rest = await served.Replica.Http.GetByteArrayAsync($"/v1/users/{user}/recommendations?count=5");
        Assert.Equal(rest, body.Data.ToByteArray());
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await Client.RecommendJsonAsync(new RecommendRequest { UserId = user, Count = 501 }));
        Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
    }

    [Fact]
    public async Task Recommend_returns_the_users_best_unplayed_tracks()
    {
        var hits = 0;
        for (var u = 0; u < 20; u++)
        {
            var response = await Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(u), Count = 10 });
            Assert.False(response.Fallback);
            Assert.Equal(served.Manifest.ModelVersion, response.ModelVersion);
            Assert.Equal(10, response.Items.Count);
            var played = World.Played.RowIndices(u).ToArray().Select(TestWorld.TrackId).ToHashSet();
            Assert.DoesNotContain(response.Items, i => played.Contains(i.Id));
            Assert.True(response.Items.Zip(response.Items.Skip(1)).All(p => p.First.Score >= p.Second.Score), "items are best first");
            var exact = World.ExactRecommend(u, 10).Select(TestWorld.TrackId).ToHashSet();
            hits += response.Items.Count(i => exact.Contains(i.Id));
            var first = response.Items[0];
            var track = int.Parse(first.Id["track-".Length..]);
            Assert.Equal($"Song {track}", first.Name);
            Assert.Equal(TestWorld.ArtistId(World.TrackCluster[track]), first.ArtistId);
            Assert.Equal($"Band {World.TrackCluster[track]}", first.ArtistName);
        }
        Assert.True(hits >= 180, $"recall@10 against brute force is {hits / 200.0:P0}");
    }

    [Fact]
    public async Task Recommend_honours_extra_exclusions_and_can_include_played_tracks()
    {
        var user = TestWorld.UserId(3);
        var first = await Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 5 });
        var excluded = first.Items.Take(2).Select(i => i.Id).ToList();
        var request = new RecommendRequest { UserId = user, Count = 5 };
        request.ExcludeTrackIds.AddRange(excluded);
        request.ExcludeTrackIds.Add("no-such-track");
        var second = await Client.RecommendAsync(request);
        Assert.Equal(5, second.Items.Count);
        Assert.DoesNotContain(second.Items, i => excluded.Contains(i.Id));

        var withPlayed = await Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 100, ExcludePlayed = false });
        var played = World.Played.RowIndices(3).ToArray().Select(TestWorld.TrackId);
        Assert.Contains(withPlayed.Items, i => played.Contains(i.Id));
    }

    [Fact]
    public async Task Unknown_user_gets_popular_tracks_marked_as_fallback()
    {
        var response = await Client.RecommendAsync(new RecommendRequest { UserId = "stranger", Count = 8 });
        Assert.True(response.Fallback);
        Assert.Equal(8, response.Items.Count);
        var plays = new float[World.Tracks];
        for (var k = 0; k < World.Played.NonZeros; k++) plays[World.Played.ColumnIndices[k]] += World.Played.Values[k];
        var expected = Enumerable.Range(0, World.Tracks).OrderByDescending(t => plays[t]).ThenBy(t => t).Take(8).Select(TestWorld.TrackId);
        Assert.Equal(expected, response.Items.Select(i => i.Id));
    }

    [Fact]
    public async Task SimilarTracks_are_from_the_same_cluster_and_never_the_track_itself()
    {
        var sameCluster = 0;
        for (var t = 0; t < 20; t++)
        {
            var response = await Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(t) });
            Assert.Equal(10, response.Items.Count);
            Assert.DoesNotContain(response.Items, i => i.Id == TestWorld.TrackId(t));
            Assert.All(response.Items, i => Assert.InRange(i.Score, -1.0001f, 1.0001f));
            sameCluster += response.Items.Count(i => World.TrackCluster[int.Parse(i.Id["track-".Length..])] == World.TrackCluster[t]);
        }
        Assert.True(sameCluster >= 180, $"{sameCluster} of 200 similar tracks share the cluster");
    }

    [Fact]
    public async Task RelatedArtists_default_to_20_and_name_the_artists()
    {
        var response = await Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = TestWorld.ArtistId(0), Count = 0 });
        Assert.Equal(World.Clusters - 1, response.Items.Count); // 19 other artists exist, fewer than the default 20
        Assert.DoesNotContain(response.Items, i => i.Id == TestWorld.ArtistId(0));
        Assert.All(response.Items, i => Assert.Equal($"Band {i.Id["artist-".Length..]}", i.Name));
        var three = await Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = TestWorld.ArtistId(0), Count = 3 });
        Assert.Equal(response.Items.Take(3).Select(i => i.Id), three.Items.Select(i => i.Id));
    }

    [Theory]
    [InlineData(501)]
    [InlineData(-1)]
    public async Task Count_outside_1_to_500_is_invalid_argument(int count)
    {
        var error = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(0), Count = count }));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("count must be between 1 and 500", error.Status.Detail);
    }

    [Fact]
    public async Task More_than_1000_exclusions_are_invalid_argument()
    {
        var request = new RecommendRequest { UserId = TestWorld.UserId(0), Count = 5 };
        request.ExcludeTrackIds.AddRange(Enumerable.Range(0, 1001).Select(TestWorld.TrackId));
        var error = await Assert.ThrowsAsync<RpcException>(async () => await Client.RecommendAsync(request));
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("at most 1000", error.Status.Detail);
    }

    [Fact]
    public async Task Empty_ids_are_invalid_and_unknown_items_not_found()
    {
        var empty = await Assert.ThrowsAsync<RpcException>(async () => await Client.SimilarTracksAsync(new SimilarTracksRequest()));
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        Assert.Contains("track_id is required", empty.Status.Detail);
        var emptyUser = await Assert.ThrowsAsync<RpcException>(async () => await Client.RecommendAsync(new RecommendRequest()));
        Assert.Equal(StatusCode.InvalidArgument, emptyUser.StatusCode);
        var track = await Assert.ThrowsAsync<RpcException>(async () => await Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = "nope" }));
        Assert.Equal(StatusCode.NotFound, track.StatusCode);
        Assert.Contains("'nope'", track.Status.Detail);
        var artist = await Assert.ThrowsAsync<RpcException>(async () => await Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = "nope" }));
        Assert.Equal(StatusCode.NotFound, artist.StatusCode);
    }

    [Fact]
    public async Task ModelInfo_reports_the_manifest()
    {
        var info = await Client.GetModelInfoAsync(new GetModelInfoRequest());
        Assert.Equal(served.Manifest.ModelVersion, info.ModelVersion);
        Assert.Equal(World.Users, info.Users);
        Assert.Equal(World.Tracks, info.Tracks);
        Assert.Equal(World.Clusters, info.Artists);
        Assert.Equal(TestWorld.Factors, info.Factors);
        Assert.Equal("test", info.Training["source"]);
        Assert.Equal(0.5, info.Metrics["tracks.precision@10"]);
        Assert.InRange(info.AgeSeconds, 0, 600);
    }

    [Fact]
    public async Task Health_service_reports_serving_and_reflection_lists_the_service()
    {
        var health = new Health.HealthClient(served.Replica.Channel);
        var status = await health.CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, status.Status);

        var reflection = new Grpc.Reflection.V1Alpha.ServerReflection.ServerReflectionClient(served.Replica.Channel);
        using var call = reflection.ServerReflectionInfo();
        await call.RequestStream.WriteAsync(new Grpc.Reflection.V1Alpha.ServerReflectionRequest { ListServices = "" });
        await call.RequestStream.CompleteAsync();
        Assert.True(await call.ResponseStream.MoveNext(CancellationToken.None));
        Assert.Contains(call.ResponseStream.Current.ListServicesResponse.Service, s => s.Name == "recservice.v1.Recommender");
    }
}
