using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Serving.Telemetry;
using StackExchange.Redis;

namespace RecService.Serving.Models;

/// <summary>
/// Keeps the replica on the newest valid bundle: polls CURRENT, and wakes at once on a Redis pub/sub notice when
/// Redis is configured. A new version is opened and fully validated off the request path before the swap; a bad
/// one is logged, counted and remembered (not retried until CURRENT changes), and the old one keeps serving.
/// </summary>
public sealed partial class BundleWatcher(
    ModelHolder holder,
    ServingMetrics metrics,
    ModelFamilies families,
    IOptions<ServingOptions> options,
    ILogger<BundleWatcher> logger) : BackgroundService
{
    private readonly SemaphoreSlim _wake = new(0);
    private readonly BundleStore _store = new(options.Value.ModelsDirectory);
    private string? _refusedVersion;
    private ConnectionMultiplexer? _redis;

    /// <summary>Checks CURRENT now (also what a Redis notice does). Returns the version served afterwards.</summary>
    public string? CheckNow()
    {
        string? version;
        try
        {
            version = _store.CurrentVersion();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogCurrentUnreadable(ex, _store.Root);
            return holder.Current?.Version;
        }
        if (version is null || version == holder.Current?.Version || version == _refusedVersion) return holder.Current?.Version;

        var clock = Stopwatch.StartNew();
        try
        {
            var bundle = ModelBundle.Open(_store.PathOf(version), options.Value.VerifyChecksums, families);
            try
            {
                AlsParts.Of(bundle); // the parts the replica serves from: a bundle without them is refused here, not on a request
            }
            catch
            {
                bundle.Dispose();
                throw;
            }
            var previous = holder.Current?.Version;
            holder.Swap(bundle);
            metrics.Swapped();
            LogSwapped(version, previous ?? "(none)", clock.Elapsed.TotalMilliseconds);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever goes wrong opening a bundle refuses it; it never takes the replica down. A bundle proven
            // invalid is not tried again until CURRENT changes; an I/O failure (permissions, a stale NFS handle)
            // may pass, so that version is tried again at the next poll.
            if (ex is InvalidDataException or ArgumentException) _refusedVersion = version;
            metrics.Refused();
            LogRefused(ex, version, holder.Current?.Version ?? "(none)");
        }
        return holder.Current?.Version;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Off the start-up path, so Kestrel (and /healthz) come up while a large bundle is verified. Load before
        // subscribing: an unreachable Redis can take seconds to give up on, and must not delay readiness.
        await Task.Yield();
        CheckNow();
        _ = SubscribeAsync();
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(options.Value.PollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            CheckNow();
        }
    }

    private async Task SubscribeAsync()
    {
        var redis = options.Value.Redis;
        if (string.IsNullOrWhiteSpace(redis.Endpoint)) return;
        try
        {
            // Keeps reconnecting in the background; polling covers the gap.
            _redis = await RedisConnections.ConnectAsync(redis.Endpoint, RedisRole.ReplicaNotices, redis.Timeout);
            await _redis.GetSubscriber().SubscribeAsync(RedisKeys.ModelChannel(redis.ModelChannel), (_, message) =>
            {
                LogNotice(message.ToString());
                _wake.Release();
            });
        }
        catch (Exception ex)
        {
            LogRedisUnavailable(ex, redis.Endpoint); // polling still finds new versions
        }
    }

    public override void Dispose()
    {
        _redis?.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "Serving model {Version} (was {Previous}); opened and validated in {Milliseconds:F1} ms")]
    private partial void LogSwapped(string version, string previous, double milliseconds);

    [LoggerMessage(LogLevel.Error, "Refused model bundle {Version}; still serving {Current}")]
    private partial void LogRefused(Exception ex, string version, string current);

    [LoggerMessage(LogLevel.Warning, "Cannot read CURRENT in {Root}")]
    private partial void LogCurrentUnreadable(Exception ex, string root);

    [LoggerMessage(LogLevel.Information, "Model notice from Redis: {Message}")]
    private partial void LogNotice(string message);

    [LoggerMessage(LogLevel.Warning, "Redis {Redis} unavailable for model notices; polling only")]
    private partial void LogRedisUnavailable(Exception ex, string redis);
}
