using RecService.Core.Bundle;

namespace RecService.Serving.Tests;

/// <summary>
/// Fault injection: redis-server killed (SIGKILL) under a bounded load of Recommend, RecordPlays and radio calls,
/// then started again, empty, on the same port. No request fails: while Redis is gone answers are degraded, and the
/// replica uses Redis again once it is back (its scripts reloaded into the new, empty server).
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class RedisRestartTests
{
    [Fact]
    public async Task Redis_killed_and_restarted_under_load_fails_no_request_and_is_used_again()
    {
        var redis = await RedisServer.StartAsync();
        try
        {
            using var models = new TempDirectory();
            var manifest = new TestWorld(seed: 62, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models.Path));
            await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: new Dictionary<string, string?>
            {
                ["Serving:Redis:Timeout"] = "00:00:00.500",
                ["Serving:Redis:RetryAfter"] = "00:00:00.300",
            });
            await replica.WaitForVersionAsync(manifest.ModelVersion);
            var calls = new SharedStateCalls(replica);
            await calls.StartAsync();

            var port = redis.Port;
            var killedAt = TimeSpan.Zero;
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var load = await calls.RunAsync(clients: 3, rounds: 400, duration: TimeSpan.FromSeconds(6), during: async () =>
            {
                await Task.Delay(800);
                killedAt = clock.Elapsed;
                await redis.KillAsync();
                await Task.Delay(1500);
                redis = await RedisServer.StartAsync(port);
            });

            Assert.All(load, c => Assert.True(c.Failed is null, $"{c.Method} failed with {c.Failed} (Redis killed at {killedAt.TotalSeconds:F1} s)"));
            Assert.Contains(load, c => c.Degraded);
            Assert.Contains(load, c => !c.Degraded);
            Assert.True(load.Count >= 60, $"only {load.Count} calls made under load");

            // Back: every kind of call uses Redis again (plays, a new station, the station continued through the outage).
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
            List<TimedCall> after;
            do
            {
                await Task.Delay(100);
                after = await calls.RoundAsync(client: 7, round: 1);
            } while (after.Any(c => c.Degraded || c.Failed is not null) && DateTime.UtcNow < deadline);
            Assert.All(after, c => Assert.False(c.Degraded || c.Failed is not null, $"{c.Method} after the restart: {c}"));
        }
        finally
        {
            await redis.DisposeAsync();
        }
    }
}
