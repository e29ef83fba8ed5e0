using System.Net;
using System.Text;
using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;

namespace RecService.Serving.Tests;

/// <summary>Radio stations through real replicas: shared through a real Redis, in-process without it, feedback, expiry, errors.</summary>
public sealed class RadioTests
{
    private static readonly Dictionary<string, string?> ClusterStations = new() { ["Serving:Radio:TracksPerArtist"] = "1000" };

    /// <summary>Two replicas of one model sharing one real Redis.</summary>
    private sealed class SharedPair : IAsyncDisposable
    {
        private RedisServer _redis = null!;
        private TempDirectory _models = null!;
        public Replica A { get; private set; } = null!;
        public Replica B { get; private set; } = null!;

        public static async Task<SharedPair> StartAsync(ulong seed)
        {
            var pair = new SharedPair { _redis = await RedisServer.StartAsync(), _models = new TempDirectory() };
            var manifest = new TestWorld(seed).Publish(new BundleStore(pair._models.Path));
            pair.A = await Replica.StartAsync(pair._models.Path, redis: pair._redis.Configuration, settings: ClusterStations);
            pair.B = await Replica.StartAsync(pair._models.Path, redis: pair._redis.Configuration, settings: ClusterStations);
            await pair.A.WaitForVersionAsync(manifest.ModelVersion);
            await pair.B.WaitForVersionAsync(manifest.ModelVersion);
            return pair;
        }

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync();
            await B.DisposeAsync();
            await _redis.DisposeAsync();
            _models.Dispose();
        }
    }

    private static int Track(string id) => int.Parse(id["track-".Length..]);

    private static async Task<HashSet<string>> Near(Replica replica, string track, int count) =>
        (await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = track, Count = count })).Items.Select(i => i.Id).ToHashSet();

    [Fact]
    public async Task A_station_started_on_one_replica_continues_on_another_without_repeats()
    {
        await using var pair = await SharedPair.StartAsync(seed: 41);
        var (a, b) = (pair.A, pair.B);

        var seed = TestWorld.TrackId(7);
        var start = await a.Radio.StartRadioAsync(new StartRadioRequest { TrackId = seed, Count = 10 });
        Assert.False(start.Degraded);
        Assert.Equal(seed, start.Items[0].Id);
        Assert.Equal(240, start.Queued); // 250 with the seed, 10 played
        var items = start.Items.ToList();
        for (var i = 0; i < 6; i++)
        {
            var next = await (i % 2 == 0 ? b : a).Radio.NextTracksAsync(new NextTracksRequest { StationId = start.StationId, Count = 10 });
            Assert.False(next.Degraded);
            Assert.Equal(10, next.Items.Count);
            Assert.Equal(240 - 10 * (i + 1), next.Queued);
            items.AddRange(next.Items);
        }
        var heard = items.Select(i => i.Id).ToList();
        Assert.Equal(heard.Count, heard.Distinct().Count());
        var near = await Near(a, seed, 400);
        Assert.True(heard.Skip(1).Count(near.Contains) >= heard.Count - 4, "station tracks should come from the seed's nearest");
        Assert.All(items, i => Assert.Equal("radio from Song 7", i.Reason));
    }

    [Fact]
    public async Task Concurrent_requests_on_two_replicas_never_hand_out_the_same_track_twice()
    {
        await using var pair = await SharedPair.StartAsync(seed: 46);
        var station = await pair.A.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(4), Count = 1 });
        var calls = Enumerable.Range(0, 16).Select(i => (i % 2 == 0 ? pair.A : pair.B).Radio
            .NextTracksAsync(new NextTracksRequest { StationId = station.StationId, Count = 5 }).ResponseAsync).ToArray();
        var answers = await Task.WhenAll(calls);
        var heard = answers.SelectMany(r => r.Items.Select(i => i.Id)).Append(station.Items[0].Id).ToList();
        Assert.Equal(81, heard.Count);
        Assert.Equal(heard.Count, heard.Distinct().Count());
        Assert.Equal(250 - 81, answers.Min(r => r.Queued));
    }

    [Fact]
    public async Task Settings_that_cannot_work_stop_the_replica_at_start()
    {
        var error = await StartFailureAsync(new Dictionary<string, string?> { ["Serving:Radio:StationSize"] = "0" });
        Assert.Contains("Serving:Radio:StationSize", error.Message);
    }

    [Fact]
    public async Task A_setting_under_its_name_from_before_the_grouping_stops_the_replica_with_its_new_name()
    {
        var error = await StartFailureAsync(new Dictionary<string, string?> { ["Serving:Redis"] = "redis:6379", ["Serving:StationTtl"] = "00:10:00" });
        Assert.Contains("Serving:Redis is now Serving:Redis:Endpoint (environment Serving__Redis__Endpoint)", error.Message);
        Assert.Contains("Serving:StationTtl is now Serving:Radio:StationTtl", error.Message);
    }

    private static async Task<Microsoft.Extensions.Options.OptionsValidationException> StartFailureAsync(Dictionary<string, string?> settings)
    {
        settings["Serving:HttpUrl"] = "http://127.0.0.1:0";
        settings["Serving:GrpcUrl"] = "http://127.0.0.1:0";
        // Refused while the host is built (the Redis link is made then) or, at the latest, as it starts.
        return await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(async () =>
        {
            await using var app = ReplicaHost.Build([], settings);
            await app.StartAsync();
        });
    }

    [Fact]
    public async Task Thumbs_up_pulls_in_the_liked_tracks_neighbours_and_thumbs_down_removes_and_demotes()
    {
        await using var pair = await SharedPair.StartAsync(seed: 42);
        var (a, b) = (pair.A, pair.B);

        // Thumbs up (on replica b) for a track far from the seed: its neighbours come next (on replica a).
        var station = await a.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(7), Count = 5 });
        var liked = TestWorld.TrackId(13);
        var up = await b.Radio.FeedbackAsync(new FeedbackRequest { StationId = station.StationId, TrackId = liked, Thumb = Thumb.Up });
        Assert.True(up.Added > 0);
        var next = await a.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId, Count = 10 });
        var likedNear = await Near(a, liked, 40);
        Assert.All(next.Items, i => Assert.Contains(i.Id, likedNear));
        Assert.All(next.Items, i => Assert.Equal("because you liked Song 13", i.Reason));

        // Thumbs down on a fresh station: the track never plays, its neighbours go to the back of the queue.
        var second = await a.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(7), Count = 1 });
        var disliked = (await Near(a, TestWorld.TrackId(7), 1)).Single();
        var down = await b.Radio.FeedbackAsync(new FeedbackRequest { StationId = second.StationId, TrackId = disliked, Thumb = Thumb.Down });
        Assert.Equal(1, down.Removed);
        Assert.True(down.Demoted > 0);
        var demoted = await Near(a, disliked, 20);
        var before = new List<string>();
        while (before.Count < down.Queued - down.Demoted)
        {
            var chunk = await a.Radio.NextTracksAsync(new NextTracksRequest { StationId = second.StationId, Count = Math.Min(100, down.Queued - down.Demoted - before.Count) });
            before.AddRange(chunk.Items.Select(i => i.Id));
        }
        Assert.DoesNotContain(before, demoted.Contains);
        var back = await a.Radio.NextTracksAsync(new NextTracksRequest { StationId = second.StationId, Count = down.Demoted });
        Assert.All(back.Items, i => Assert.Contains(i.Id, demoted));
        // Keep listening well past the first set (refills): the disliked track never comes, nothing repeats.
        var all = before.Concat(back.Items.Select(i => i.Id)).Append(second.Items[0].Id).ToList();
        for (var i = 0; i < 4; i++) all.AddRange((await b.Radio.NextTracksAsync(new NextTracksRequest { StationId = second.StationId, Count = 100 })).Items.Select(t => t.Id));
        Assert.True(all.Count > 500, $"{all.Count} tracks heard");
        Assert.DoesNotContain(disliked, all);
        Assert.Equal(all.Count, all.Distinct().Count());
    }

    [Fact]
    public async Task Stations_expire_after_their_ttl_in_redis_and_in_process()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 43, users: 50, tracks: 400, clusters: 8).Publish(new BundleStore(models.Path));
        var shortTtl = new Dictionary<string, string?> { ["Serving:Radio:StationTtl"] = "00:00:01" };
        await using var shared = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: shortTtl);
        await using var local = await Replica.StartAsync(models.Path, settings: shortTtl);
        foreach (var replica in new[] { shared, local })
        {
            await replica.WaitForVersionAsync(manifest.ModelVersion);
            var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(2) });
            Assert.NotEmpty((await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId })).Items);
            await Task.Delay(2500);
            var gone = await Assert.ThrowsAsync<RpcException>(() => replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId }).ResponseAsync);
            Assert.Equal(StatusCode.NotFound, gone.StatusCode);
            Assert.Contains("expired", gone.Status.Detail);
        }
    }

    [Fact]
    public async Task Station_tracks_are_scored_by_cosine_with_the_seed_or_the_liked_track()
    {
        using var models = new TempDirectory();
        var world = new TestWorld(seed: 45);
        var manifest = world.Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path);
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        float[] Row(int t) => world.TrackFactors.AsSpan(t * TestWorld.Factors, TestWorld.Factors).ToArray();
        static float Cosine(float[] a, float[] b) => System.Numerics.Tensors.TensorPrimitives.CosineSimilarity(a, b);

        var byTrack = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(9), Count = 8 });
        Assert.Equal(TestWorld.TrackId(9), byTrack.Items[0].Id);
        Assert.Equal(1f, byTrack.Items[0].Score, 1e-5f);
        Assert.All(byTrack.Items, i => Assert.Equal(Cosine(Row(Track(i.Id)), Row(9)), i.Score, 1e-4f));
        Assert.Contains(byTrack.Items, i => i.Score is > 0f and < 0.999f);

        await replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = byTrack.StationId, TrackId = TestWorld.TrackId(30), Thumb = Thumb.Up });
        var liked = await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = byTrack.StationId, Count = 5 });
        Assert.Equal(5, liked.Items.Count);
        Assert.All(liked.Items, i => Assert.StartsWith("because you liked", i.Reason));
        Assert.All(liked.Items, i => Assert.Equal(Cosine(Row(Track(i.Id)), Row(30)), i.Score, 1e-4f));

        var byArtist = await replica.Radio.StartRadioAsync(new StartRadioRequest { ArtistId = TestWorld.ArtistId(3), Count = 8 });
        var direction = new float[TestWorld.Factors];
        for (var t = 0; t < world.TrackCluster.Length; t++)
            if (world.TrackCluster[t] == 3)
            {
                var row = Row(t);
                System.Numerics.Tensors.TensorPrimitives.Divide(row, System.Numerics.Tensors.TensorPrimitives.Norm(row), row);
                System.Numerics.Tensors.TensorPrimitives.Add(direction, row, direction);
            }
        Assert.All(byArtist.Items, i => Assert.Equal(Cosine(Row(Track(i.Id)), direction), i.Score, 1e-4f));
    }

    [Fact]
    public async Task Without_redis_an_artist_station_runs_in_process_with_a_few_tracks_per_artist()
    {
        using var models = new TempDirectory();
        var world = new TestWorld(seed: 44);
        var manifest = world.Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path);
        await replica.WaitForVersionAsync(manifest.ModelVersion);

        var start = await replica.Radio.StartRadioAsync(new StartRadioRequest { ArtistId = TestWorld.ArtistId(5), Count = 10 });
        Assert.False(start.Degraded);
        var initial = start.Items.Select(i => i.Id).ToList();
        var size = initial.Count + start.Queued;
        while (initial.Count < size)
            initial.AddRange((await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = start.StationId, Count = Math.Min(100, size - initial.Count) })).Items.Select(i => i.Id));
        var perArtist = initial.GroupBy(t => world.TrackCluster[Track(t)]).ToDictionary(g => g.Key, g => g.Count());
        Assert.All(perArtist.Values, n => Assert.True(n <= 4, $"{n} tracks by one artist"));
        Assert.Equal(4, perArtist[5]); // the seed artist's own tracks are nearest its direction
        Assert.Equal(initial.Count, initial.Distinct().Count());
        // Past the starting set the station refills and goes on without repeats.
        var more = await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = start.StationId, Count = 20 });
        Assert.Equal(20, more.Items.Count);
        Assert.DoesNotContain(more.Items, i => initial.Contains(i.Id));
        var fb = await replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = start.StationId, TrackId = initial[0], Thumb = Thumb.Down });
        Assert.False(fb.Degraded);
    }

    [Fact]
    public async Task Bad_radio_requests_get_clear_errors_over_grpc_and_rest()
    {
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 45, users: 50, tracks: 400, clusters: 8).Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path);
        await replica.WaitForVersionAsync(manifest.ModelVersion);

        async Task<StatusCode> Status(Func<Task> call) => (await Assert.ThrowsAsync<RpcException>(call)).StatusCode;
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => replica.Radio.StartRadioAsync(new StartRadioRequest()).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = "nope" }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => replica.Radio.StartRadioAsync(new StartRadioRequest { ArtistId = "nope" }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(1), Count = 101 }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = "not-a-station" }).ResponseAsync));
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => replica.Radio.NextTracksAsync(new NextTracksRequest()).ResponseAsync));
        var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(1) });
        Assert.Equal(StatusCode.InvalidArgument, await Status(() => replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = station.StationId, TrackId = TestWorld.TrackId(2) }).ResponseAsync));
        Assert.Equal(StatusCode.NotFound, await Status(() => replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = station.StationId, TrackId = "nope", Thumb = Thumb.Up }).ResponseAsync));

        // REST: start, next, feedback; and a 400 / 404.
        static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");
        var started = await replica.Http.PostAsync("/v1/radio/stations", Json($$"""{"trackId":"{{TestWorld.TrackId(3)}}","count":3}"""));
        Assert.Equal(HttpStatusCode.OK, started.StatusCode);
        var startedJson = System.Text.Json.JsonDocument.Parse(await started.Content.ReadAsStringAsync()).RootElement;
        var id = startedJson.GetProperty("stationId").GetString()!;
        Assert.Equal(3, startedJson.GetProperty("items").GetArrayLength());
        var next = await replica.Http.PostAsync($"/v1/radio/stations/{id}/next", Json("""{"count":4}"""));
        Assert.Equal(HttpStatusCode.OK, next.StatusCode);
        Assert.Equal(4, System.Text.Json.JsonDocument.Parse(await next.Content.ReadAsStringAsync()).RootElement.GetProperty("items").GetArrayLength());
        var feedback = await replica.Http.PostAsync($"/v1/radio/stations/{id}/feedback", Json($$"""{"trackId":"{{TestWorld.TrackId(11)}}","thumb":"THUMB_UP"}"""));
        Assert.Equal(HttpStatusCode.OK, feedback.StatusCode);
        Assert.Equal(HttpStatusCode.BadRequest, (await replica.Http.PostAsync("/v1/radio/stations", Json("{}"))).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await replica.Http.PostAsync("/v1/radio/stations/unknown/next", Json("{}"))).StatusCode);
    }
}
