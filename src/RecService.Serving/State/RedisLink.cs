using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RecService.Serving.Telemetry;
using StackExchange.Redis;

namespace RecService.Serving.State;

/// <summary>What a shared-state call gave: the value when Redis answered, or <see cref="Degraded"/> when it could not be asked.</summary>
public readonly record struct RedisAnswer<T>(bool Answered, T? Value)
{
    public bool Degraded => !Answered;
}

/// <summary>
/// The replica's connection to Redis for shared state (stations, fresh plays, precomputed lists), with short
/// timeouts and a circuit: a failed call opens it for <see cref="ServingOptions.RedisSettings.RetryAfter"/>, during which
/// calls fail at once instead of waiting, so a Redis outage costs requests nothing but the degraded answer. The
/// multiplexer reconnects in the background; the first call after the retry interval tries again and closes the
/// circuit when it works. Not configured (no <see cref="ServingOptions.RedisSettings.Endpoint"/>) means every store is in-process.
/// </summary>
public sealed partial class RedisLink : IDisposable
{
    private readonly ServingOptions.RedisSettings _options;
    private readonly ServingMetrics _metrics;
    private readonly ILogger<RedisLink> _logger;
    private readonly Task<ConnectionMultiplexer?>? _connecting;
    private long _openUntil; // Stopwatch ticks; 0 = closed
    private int _open;

    public RedisLink(IOptions<ServingOptions> options, ServingMetrics metrics, ILogger<RedisLink> logger)
    {
        _options = options.Value.Redis;
        _metrics = metrics;
        _logger = logger;
        Keys = new RedisKeys(_options.KeyPrefix);
        if (string.IsNullOrWhiteSpace(_options.Endpoint)) return;
        _connecting = ConnectAsync(_options.Endpoint, _options.Timeout);
        metrics.RedisAvailable(true);
    }

    public bool Configured => _connecting is not null;
    /// <summary>The shared-state keys, under the configured prefix.</summary>
    public RedisKeys Keys { get; }

    private async Task<ConnectionMultiplexer?> ConnectAsync(string configuration, TimeSpan timeout)
    {
        try
        {
            return await RedisConnections.ConnectAsync(configuration, RedisRole.ReplicaState, timeout);
        }
        catch (Exception ex) when (ex is RedisException or ArgumentException or TimeoutException)
        {
            LogUnusable(ex, configuration);
            return null;
        }
    }

    /// <summary>
    /// Runs <paramref name="call"/> against Redis unless the circuit is open; any Redis failure opens it. The whole
    /// call (waiting for the first connection, every command, script load and retry inside it) is bounded by
    /// <see cref="ServingOptions.RedisSettings.Timeout"/> here, on the replica's clock: the client library notices its
    /// own timeouts only at its heartbeat, and a stopped Redis (connection open, nothing answering) would otherwise
    /// hold a request for up to a second more. A call given up on may still complete in Redis later.
    /// </summary>
    public async ValueTask<RedisAnswer<T>> TryAsync<T>(string operation, Func<IDatabase, Task<T>> call)
    {
        if (_connecting is null) throw new InvalidOperationException("Redis is not configured.");
        if (Volatile.Read(ref _open) != 0 && Stopwatch.GetTimestamp() < Volatile.Read(ref _openUntil))
        {
            _metrics.Degraded(operation); // open circuit: not asked, not waited for
            return new RedisAnswer<T>(false, default);
        }
        var started = Stopwatch.GetTimestamp();
        if (!_connecting.IsCompleted)
        {
            // Still connecting (replica just started): wait for it, but no longer than one call may take.
            try
            {
                await _connecting.WaitAsync(_options.Timeout);
            }
            catch (TimeoutException)
            {
                return Fail<T>(operation, null);
            }
        }
        if (!_connecting.IsCompletedSuccessfully || _connecting.Result is not { } multiplexer || !multiplexer.IsConnected)
            return Fail<T>(operation, null);
        Task<T>? pending = null;
        try
        {
            pending = call(multiplexer.GetDatabase());
            var left = _options.Timeout - Stopwatch.GetElapsedTime(started);
            var value = await pending.WaitAsync(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            if (Interlocked.Exchange(ref _open, 0) != 0)
            {
                _metrics.RedisAvailable(true);
                LogRecovered(operation);
            }
            return new RedisAnswer<T>(true, value);
        }
        catch (TimeoutException ex) when (pending is { IsCompleted: false })
        {
            // Given up on, not cancelled: observe its eventual failure so it is not reported as unobserved.
            _ = pending.ContinueWith(static t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
            return Fail<T>(operation, ex);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            return Fail<T>(operation, ex);
        }
    }

    private RedisAnswer<T> Fail<T>(string operation, Exception? ex)
    {
        Volatile.Write(ref _openUntil, Stopwatch.GetTimestamp() + (long)(_options.RetryAfter.TotalSeconds * Stopwatch.Frequency));
        if (Interlocked.Exchange(ref _open, 1) == 0)
        {
            _metrics.RedisAvailable(false);
            LogDegraded(ex, operation, _options.RetryAfter.TotalMilliseconds);
        }
        _metrics.Degraded(operation);
        return new RedisAnswer<T>(false, default);
    }

    public void Dispose()
    {
        if (_connecting is { IsCompletedSuccessfully: true, Result: { } multiplexer }) multiplexer.Dispose();
    }

    [LoggerMessage(LogLevel.Warning, "Redis unavailable ({Operation}); serving degraded from in-process state, retrying every {RetryMs} ms")]
    private partial void LogDegraded(Exception? ex, string operation, double retryMs);

    [LoggerMessage(LogLevel.Information, "Redis answered again ({Operation}); shared state restored")]
    private partial void LogRecovered(string operation);

    [LoggerMessage(LogLevel.Error, "Redis configuration {Configuration} is unusable; shared state stays in-process")]
    private partial void LogUnusable(Exception ex, string configuration);
}
