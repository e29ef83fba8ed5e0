using Microsoft.Extensions.DependencyInjection;
using RecService.Api.V1;
using RecService.Core.Bundle;

namespace RecService.Serving.Tests;

/// <summary>The bound on a user's distinct fresh tracks, in process and in a real Redis, through a real replica.</summary>
public sealed class FreshPlayLimitTests
{
    private static RecordPlaysRequest Plays(string user, params int[] tracks)
    {
        var request = new RecordPlaysRequest { UserId = user };
        request.Plays.AddRange(tracks.Select(t => new Play { TrackId = TestWorld.TrackId(t), Count = 2 }));
        return request;
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_user_keeps_at_most_the_bound_of_distinct_fresh_tracks(bool withRedis)
    {
        await using var redis = withRedis ? await RedisServer.StartAsync() : null;
        using var models = new TempDirectory();
        var world = new TestWorld(seed: 61);
        var manifest = world.Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path, redis: redis?.Configuration,
            settings: new Dictionary<string, string?> { ["Serving:State:MaxFreshTracks"] = "4" });
        await replica.WaitForVersionAsync(manifest.ModelVersion);

        // Six new tracks (one twice): the first four are kept, as is the repeat of a kept one.
        var first = await replica.Client.RecordPlaysAsync(Plays("heavy", 1, 2, 3, 1, 4, 5, 6));
        Assert.Equal((5, 2, false), (first.Accepted, first.OverLimit, first.Degraded));
        // Full: plays of kept tracks still add up, new ones are refused.
        var second = await replica.Client.RecordPlaysAsync(Plays("heavy", 2, 7, 3));
        Assert.Equal((2, 1), (second.Accepted, second.OverLimit));
        // Another user has a bound of their own.
        var other = await replica.Client.RecordPlaysAsync(Plays("light", 7, 8));
        Assert.Equal((2, 0), (other.Accepted, other.OverLimit));

        var plays = await replica.Services.GetRequiredService<Taste.FreshPlayStore>().GetAsync("heavy");
        var counts = plays.Plays.ToDictionary(p => p.TrackId, p => p.Count);
        Assert.Equal(new Dictionary<string, long>
        {
            [TestWorld.TrackId(1)] = 4, [TestWorld.TrackId(2)] = 4, [TestWorld.TrackId(3)] = 4, [TestWorld.TrackId(4)] = 2,
        }, counts);
        Assert.Equal("realtime", (await replica.Client.RecommendAsync(new RecommendRequest { UserId = "heavy" })).Source);
    }
}
