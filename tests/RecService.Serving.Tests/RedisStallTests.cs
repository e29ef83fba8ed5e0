using RecService.Api.V1;
using RecService.Core.Bundle;

namespace RecService.Serving.Tests;

/// <summary>
/// Redis stopped (SIGSTOP), not gone: connections stay open and nothing answers, the case where only the replica's
/// own timeout can bound a call. Every call must answer, degraded, within Serving:Redis:Timeout plus a small margin,
/// whatever path it takes (a script, a transaction, a plain read, the first call after the circuit's retry interval).
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class RedisStallTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMilliseconds(300);
    /// <summary>gRPC, the request's own work and a busy two-core machine on top of the Redis timeout.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromMilliseconds(250);

    [Fact]
    public async Task Every_call_answers_degraded_within_the_timeout_while_redis_is_stopped_and_recovers_after()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 61, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: new Dictionary<string, string?>
        {
            ["Serving:Redis:Timeout"] = Timeout.ToString(),
            ["Serving:Redis:RetryAfter"] = Timeout.ToString(), // the circuit closes often: many calls take the slow path
        });
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        var calls = new SharedStateCalls(replica);
        await calls.StartAsync();
        // Healthy first (a cold call's JIT can pass 300 ms on a busy machine: a few tries).
        List<TimedCall> healthy;
        var tries = 0;
        do healthy = await calls.RoundAsync(client: 0, round: tries);
        while (healthy.Any(c => c.Degraded) && ++tries < 10);
        Assert.All(healthy, c => Assert.False(c.Degraded || c.Failed is not null, $"{c.Method} before the stall: {c}"));

        redis.Pause();
        List<TimedCall> stalled;
        try
        {
            stalled = await calls.RunAsync(clients: 3, rounds: 6, duration: TimeSpan.FromSeconds(4));
        }
        finally
        {
            redis.Resume();
        }
        Assert.All(stalled, c => Assert.Null(c.Failed));
        Assert.Contains(stalled, c => c.Degraded);
        var slowest = stalled.MaxBy(c => c.Took);
        Assert.True(slowest.Took < Timeout + Margin,
            $"{slowest.Method} took {slowest.Took.TotalMilliseconds:F0} ms with Redis stopped (timeout {Timeout.TotalMilliseconds} ms); " +
            $"{stalled.Count(c => c.Took >= Timeout + Margin)} of {stalled.Count} calls over {(Timeout + Margin).TotalMilliseconds} ms");

        // SIGCONT: shared state is used again, without a restart.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        List<TimedCall> after;
        do
        {
            await Task.Delay(100);
            after = await calls.RoundAsync(client: 9, round: 1);
        } while (after.Any(c => c.Degraded) && DateTime.UtcNow < deadline);
        Assert.All(after, c => Assert.False(c.Degraded || c.Failed is not null, $"{c.Method} after SIGCONT: {c}"));
    }
}
