using System.Diagnostics;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Serving.Rpc;

namespace RecService.Serving.Tests;

/// <summary>Runs alone: replicas in one process share the meter name, so /metrics must not see other tests' replicas.</summary>
[CollectionDefinition(nameof(RunsAlone), DisableParallelization = true)]
public sealed class RunsAlone;

/// <summary>Redis stopped under a running replica: every call is still answered quickly and marked degraded, and shared state comes back with Redis.</summary>
[Collection(nameof(RunsAlone))]
public sealed class RedisOutageTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(1.5);

    private static async Task<T> Timed<T>(Func<Task<T>> call)
    {
        var clock = Stopwatch.StartNew();
        var result = await call();
        Assert.True(clock.Elapsed < Quick, $"a call took {clock.Elapsed.TotalMilliseconds:F0} ms while Redis was down");
        return result;
    }

    private static RecordPlaysRequest Plays(string user, params int[] tracks)
    {
        var request = new RecordPlaysRequest { UserId = user };
        request.Plays.AddRange(tracks.Select(t => new Play { TrackId = TestWorld.TrackId(t), Count = 5 }));
        return request;
    }

    [Fact]
    public async Task Requests_are_answered_degraded_while_redis_is_down_and_recover_when_it_returns()
    {
        var redis = await RedisServer.StartAsync();
        var port = redis.Port;
        try
        {
            using var models = new TempDirectory();
            var world = new TestWorld(seed: 51);
            var manifest = world.Publish(new BundleStore(models.Path));
            await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: new Dictionary<string, string?>
            {
                ["Serving:Redis:Timeout"] = "00:00:00.500", // short, yet safe from timeouts on a loaded test machine
                ["Serving:Redis:RetryAfter"] = "00:00:00.300",
            });
            await replica.WaitForVersionAsync(manifest.ModelVersion);
            var cluster = 3;
            int[] clusterTracks = [cluster, cluster + 20, cluster + 40, cluster + 60];

            // Healthy: plays and a station live in Redis.
            Assert.False((await replica.Client.RecordPlaysAsync(Plays("listener-a", clusterTracks))).Degraded);
            var healthy = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "listener-a" });
            Assert.Equal("realtime", healthy.Source);
            Assert.False(healthy.Degraded);
            var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(7) });
            Assert.False(station.Degraded);

            await redis.DisposeAsync();

            // Down: answered, quickly, and marked. listener-a's plays were in Redis only: popular tracks, degraded.
            var down = await Timed(() => replica.Client.RecommendAsync(new RecommendRequest { UserId = "listener-a" }).ResponseAsync);
            Assert.True(down.Degraded);
            Assert.Equal("popular", down.Source);
            var known = await Timed(() => replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(1) }).ResponseAsync);
            Assert.True(known.Degraded);
            Assert.Equal("model", known.Source);
            Assert.Equal(10, known.Items.Count);
            // The station was in Redis only: rebuilt from the seed its id names.
            var rebuilt = await Timed(() => replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId }).ResponseAsync);
            Assert.True(rebuilt.Degraded);
            Assert.Equal(10, rebuilt.Items.Count);
            // New plays and stations are kept by this replica meanwhile, and used.
            var recorded = await Timed(() => replica.Client.RecordPlaysAsync(Plays("listener-b", clusterTracks)).ResponseAsync);
            Assert.True(recorded.Degraded);
            string[] racers = ["racer-0", "racer-1", "racer-2", "racer-3", "racer-4"]; // the same plays as listener-b
            foreach (var racer in racers) Assert.True((await Timed(() => replica.Client.RecordPlaysAsync(Plays(racer, clusterTracks)).ResponseAsync)).Degraded);
            var local = await Timed(() => replica.Client.RecommendAsync(new RecommendRequest { UserId = "listener-b" }).ResponseAsync);
            Assert.Equal("realtime", local.Source);
            Assert.True(local.Degraded);
            var outageStation = await Timed(() => replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(9), Count = 5 }).ResponseAsync);
            Assert.True(outageStation.Degraded);
            var outageNext = await Timed(() => replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = outageStation.StationId, Count = 5 }).ResponseAsync);
            Assert.True(outageNext.Degraded);
            Assert.Empty(outageNext.Items.Select(i => i.Id).Intersect(outageStation.Items.Select(i => i.Id)));
            // REST says so in a header too, and the metrics show it.
            var rest = await replica.Http.GetAsync("/v1/users/listener-b/recommendations");
            Assert.True(rest.Headers.TryGetValues(RpcErrors.DegradedHeader, out var values) && values.Single() == "redis-unavailable");
            var metrics = await replica.Http.GetStringAsync("/metrics");
            Assert.Contains(metrics.Split('\n'), l => l.StartsWith("recservice_redis_available") && l.TrimEnd().EndsWith(" 0"));
            Assert.Contains("recservice_redis_degraded_total", metrics);

            // Redis back (empty: no persistence) on the same port: shared state resumes.
            redis = await RedisServer.StartAsync(port);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            RecommendResponse again;
            do
            {
                await Task.Delay(200);
                again = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(1) });
            } while (again.Degraded && DateTime.UtcNow < deadline);
            Assert.False(again.Degraded, "still degraded 20 s after Redis came back");
            Assert.False((await replica.Client.RecordPlaysAsync(Plays("listener-c", clusterTracks))).Degraded);
            // listener-b's plays, kept by this replica during the outage, move to Redis on the user's next call, and
            // from then on another replica (with nothing of its own) sees them.
            var first = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "listener-b" });
            Assert.Equal("realtime", first.Source);
            // Concurrent first reads carry a user's plays once: the racers end up with listener-b's counts, not double.
            await Task.WhenAll(racers.SelectMany(r => Enumerable.Range(0, 4).Select(_ => replica.Client.RecommendAsync(new RecommendRequest { UserId = r }).ResponseAsync)));
            await using (var other = await Replica.StartAsync(models.Path, redis: redis.Configuration))
            {
                await other.WaitForVersionAsync(manifest.ModelVersion);
                foreach (var user in racers.Prepend("listener-b"))
                {
                    var seen = await other.Client.RecommendAsync(new RecommendRequest { UserId = user });
                    Assert.False(seen.Degraded);
                    Assert.Equal("realtime", seen.Source);
                    Assert.Equal(first.Items.Select(i => (i.Id, i.Score)), seen.Items.Select(i => (i.Id, i.Score)));
                }
            }
            // Moved, not copied: this replica's answer is unchanged (its plays are not counted twice).
            var after = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "listener-b" });
            Assert.Equal(first.Items.Select(i => (i.Id, i.Score)), after.Items.Select(i => (i.Id, i.Score)));
            // The station made during the outage carries over into Redis on its next change (a call that still
            // times out on a busy machine continues it locally; either way nothing repeats).
            var heard = outageStation.Items.Concat(outageNext.Items).Select(i => i.Id).ToList();
            StationTracks carried;
            var tries = 0;
            do
            {
                carried = await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = outageStation.StationId, Count = 5 });
                heard.AddRange(carried.Items.Select(i => i.Id));
            } while (carried.Degraded && ++tries < 10);
            Assert.False(carried.Degraded);
            Assert.Equal(heard.Count, heard.Distinct().Count());
            var elsewhere = await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = outageStation.StationId, Count = 5 });
            Assert.False(elsewhere.Degraded);
            metrics = await replica.Http.GetStringAsync("/metrics");
            Assert.Contains(metrics.Split('\n'), l => l.StartsWith("recservice_redis_available") && l.TrimEnd().EndsWith(" 1"));
        }
        finally
        {
            await redis.DisposeAsync();
        }
    }
}
