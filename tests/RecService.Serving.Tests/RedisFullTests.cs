using RecService.Api.V1;
using RecService.Core.Bundle;
using StackExchange.Redis;

namespace RecService.Serving.Tests;

/// <summary>
/// Redis full under the deployments' policy (maxmemory, noeviction: writes refused with OOM, nothing evicted): reads
/// of what it holds still work, refused writes answer degraded (kept by the replica), no request fails.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class RedisFullTests
{
    [Fact]
    public async Task A_full_redis_refuses_writes_and_the_replica_answers_degraded_without_failing_or_losing_what_redis_holds()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 63, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: new Dictionary<string, string?>
        {
            ["Serving:Redis:RetryAfter"] = "00:00:00", // retry Redis on every call: each write meets the OOM refusal itself
        });
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        var plays = new RecordPlaysRequest { UserId = "before-full", Plays = { new Play { TrackId = TestWorld.TrackId(3), Count = 4 } } };
        Assert.False((await replica.Client.RecordPlaysAsync(plays)).Degraded);
        var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(5), Count = 2 });
        Assert.False(station.Degraded);

        await using (var admin = await ConnectionMultiplexer.ConnectAsync(redis.Configuration + ",allowAdmin=true"))
        {
            var server = admin.GetServer(admin.GetEndPoints()[0]);
            await server.ConfigSetAsync("maxmemory-policy", "noeviction");
            await server.ConfigSetAsync("maxmemory", "1"); // below what it already uses: full from now on
            await Assert.ThrowsAsync<RedisServerException>(() => admin.GetDatabase().StringSetAsync("probe", "x")); // OOM
        }

        // Writes are refused by Redis: answered, degraded, kept by this replica and used by it.
        var refused = await replica.Client.RecordPlaysAsync(new RecordPlaysRequest { UserId = "after-full", Plays = { new Play { TrackId = TestWorld.TrackId(3), Count = 4 } } });
        Assert.True(refused.Degraded);
        Assert.Equal(1, refused.Accepted);
        var local = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "after-full" });
        Assert.Equal("realtime", local.Source);
        var newStation = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(9), Count = 2 });
        Assert.True(newStation.Degraded);
        Assert.Equal(2, (await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = newStation.StationId, Count = 2 })).Items.Count);
        var next = await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId, Count = 2 });
        Assert.Equal(2, next.Items.Count);
        // What Redis holds is still read: the plays recorded before it filled up are folded in, not degraded.
        var held = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "before-full" });
        Assert.Equal("realtime", held.Source);
        Assert.False(held.Degraded);
    }
}
