using RecService.Core.Files;
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
/// one is logged once, counted and remembered (not retried until CURRENT or its manifest changes), and the old one keeps
/// serving. With nothing served yet (a start-up) and CURRENT naming a bad bundle, the newest intact version serves as a
/// fallback. Each poll also checks that the served files were not changed in place (truncated or rewritten under the
/// mapping) and, if they were, swaps to an intact bundle before more requests read them (FORMAT.md, "Faults").
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
    private readonly Lock _checking = new();
    // Directories proven invalid, with their manifest's identity then: a directory is tried again only when that changes.
    private readonly Dictionary<string, FileIdentity> _refused = new(StringComparer.Ordinal);
    private string? _servedDirectory;
    private string? _currentProblem;
    private string? _openFailure;
    private ModelBundle? _damageLogged;
    private volatile string? _degraded;
    private FileSystemWatcher? _servedFiles;
    private ConnectionMultiplexer? _redis;

    /// <summary>Why the replica serves something other than what CURRENT names (a fallback, a refused or unreadable
    /// CURRENT); null when it serves CURRENT's bundle or has none.</summary>
    public string? Degraded => _degraded;

    /// <summary>Checks CURRENT (and the served files) now; also what a Redis notice does. Returns the version served afterwards.</summary>
    public string? CheckNow()
    {
        lock (_checking)
        {
            var target = ReadCurrent();
            var served = holder.Current;
            if (served is not null && served.ChangedFile(out var contentChanged) is { } change)
            {
                if (!ReferenceEquals(_damageLogged, served))
                {
                    _damageLogged = served;
                    LogServedFilesChanged(change, served.Version);
                }
                // Bytes that changed under the mapping are not read again, not even while the replacement is verified
                // (a truncated page faults with SIGBUS, rewritten factors give NaN scores): the replica answers "no model"
                // (503, UNAVAILABLE) for that moment instead. A status-only change keeps serving meanwhile.
                if (contentChanged) holder.Clear();
                // Reopened from disk with every check (checksums too): CURRENT's bundle if it verifies, else the newest
                // intact one; a damaged mapping is never read again by new requests.
                if (!(target is not null && TryServe(target, fallbackFor: null)) && !FallBack(target, includeServed: true))
                {
                    holder.Clear();
                    WatchServedFiles(null);
                    _servedDirectory = null;
                    _degraded = $"no intact bundle: {change}";
                    LogNothingIntact(served.Version);
                }
            }
            else if (target is not null && target != _servedDirectory && !IsRefused(target))
            {
                if (!TryServe(target, fallbackFor: null) && served is null) FallBack(target, includeServed: false);
            }
            else if (served is null)
            {
                FallBack(target, includeServed: false);
            }
            if (target is not null && target == _servedDirectory) _degraded = null;
            else if (holder.Current is { } now && _servedDirectory is { } from)
                _degraded = target is not null ? $"serving {now.Version} from {from}; CURRENT names {target}, which was refused"
                    : _currentProblem is not null ? $"serving {now.Version} from {from}; CURRENT is unusable: {_currentProblem}"
                    : $"serving {now.Version} from {from}; there is no CURRENT";
            return holder.Current?.Version;
        }
    }

    /// <summary>CURRENT's version name, or null (none yet, or unreadable: logged once per distinct problem, without a stack trace).</summary>
    private string? ReadCurrent()
    {
        try
        {
            var version = _store.CurrentVersion();
            _currentProblem = null;
            return version;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            if (ex.Message != _currentProblem)
            {
                _currentProblem = ex.Message;
                LogCurrentUnreadable(ex.Message, holder.Current?.Version ?? "(none)");
            }
            return null;
        }
    }

    private bool IsRefused(string directory) =>
        _refused.TryGetValue(directory, out var manifest) && manifest == ManifestIdentity(directory);

    private FileIdentity ManifestIdentity(string directory) => FileIdentity.OfPath(Path.Combine(_store.PathOf(directory), BundleManifest.FileName));

    /// <summary>The newest version that opens (other than CURRENT's, already tried), served as a fallback.</summary>
    private bool FallBack(string? target, bool includeServed)
    {
        foreach (var directory in _store.Versions().Reverse())
        {
            if (directory == target || (!includeServed && directory == _servedDirectory) || IsRefused(directory)) continue;
            if (TryServe(directory, fallbackFor: target ?? "(unreadable CURRENT)")) return true;
        }
        return false;
    }

    private bool TryServe(string directory, string? fallbackFor)
    {
        var clock = Stopwatch.StartNew();
        var manifest = ManifestIdentity(directory);
        try
        {
            var bundle = ModelBundle.Open(_store.PathOf(directory), options.Value.VerifyChecksums, families);
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
            // CURRENT's own bundle ends any degraded state: cleared before the swap, so no request sees the new version
            // beside the old reason (the poll's end recomputes it either way).
            if (fallbackFor is null) _degraded = null;
            holder.Swap(bundle);
            _servedDirectory = directory;
            WatchServedFiles(directory);
            _refused.Remove(directory);
            metrics.Swapped();
            // The manifest's version is what the replica reports (and what precomputed lists match); a copy under another
            // directory name (a restored backup) serves under its manifest's version, swapped in once per change of CURRENT.
            if (fallbackFor is not null) LogFallback(bundle.Version, directory, fallbackFor);
            else if (bundle.Version != directory) LogSwappedRenamed(bundle.Version, directory, previous ?? "(none)", clock.Elapsed.TotalMilliseconds);
            else LogSwapped(bundle.Version, previous ?? "(none)", clock.Elapsed.TotalMilliseconds);
            return true;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Whatever goes wrong opening a bundle refuses it; it never takes the replica down. A bundle proven
            // invalid is not tried again until CURRENT (or its manifest) changes; an I/O failure (permissions, a stale NFS
            // handle) may pass, so that version is tried again at the next poll.
            metrics.Refused();
            if (ex is InvalidDataException or ArgumentException)
            {
                _refused[directory] = manifest;
                LogRefused(directory, holder.Current?.Version ?? "(none)", ex.Message);
            }
            else if (ex.Message != _openFailure)
            {
                _openFailure = ex.Message; // once per distinct failure, not every poll
                LogOpenFailed(ex, directory, holder.Current?.Version ?? "(none)");
            }
            return false;
        }
    }

    /// <summary>
    /// inotify on the served directory: a write, truncation or chmod of a served file wakes the watcher at once, so the
    /// swap away from it happens within milliseconds instead of at the next poll (the poll still checks, should the
    /// notification be lost or unavailable, e.g. on NFS).
    /// </summary>
    private void WatchServedFiles(string? directory)
    {
        _servedFiles?.Dispose();
        _servedFiles = null;
        if (directory is null) return;
        try
        {
            var watcher = new FileSystemWatcher(_store.PathOf(directory))
            {
                NotifyFilter = NotifyFilters.Size | NotifyFilters.LastWrite | NotifyFilters.Attributes | NotifyFilters.FileName,
                IncludeSubdirectories = false,
            };
            FileSystemEventHandler wake = (_, _) => Wake();
            watcher.Changed += wake;
            watcher.Deleted += wake;
            watcher.Renamed += (_, _) => Wake();
            watcher.EnableRaisingEvents = true;
            _servedFiles = watcher;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            LogNoFileWatch(directory, ex.Message); // polling alone then
        }
    }

    /// <summary>Wakes the poll loop; a burst of notices wakes it once.</summary>
    private void Wake()
    {
        if (_wake.CurrentCount == 0) _wake.Release();
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
                Wake();
            });
        }
        catch (Exception ex)
        {
            LogRedisUnavailable(ex, redis.Endpoint); // polling still finds new versions
        }
    }

    public override void Dispose()
    {
        lock (_checking) WatchServedFiles(null);
        _redis?.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "Serving model {Version} (was {Previous}); opened and validated in {Milliseconds:F1} ms")]
    private partial void LogSwapped(string version, string previous, double milliseconds);

    [LoggerMessage(LogLevel.Information, "Serving model {Version} from directory {Directory} (a copy under another name; was {Previous}); opened and validated in {Milliseconds:F1} ms")]
    private partial void LogSwappedRenamed(string version, string directory, string previous, double milliseconds);

    [LoggerMessage(LogLevel.Warning, "Serving model {Version} from {Directory} as a fallback: CURRENT names {Target}, which cannot be served")]
    private partial void LogFallback(string version, string directory, string target);

    [LoggerMessage(LogLevel.Error, "Refused model bundle {Directory}; still serving {Current}: {Reason}")]
    private partial void LogRefused(string directory, string current, string reason);

    [LoggerMessage(LogLevel.Error, "Could not open model bundle {Directory} (tried again at the next poll); still serving {Current}")]
    private partial void LogOpenFailed(Exception ex, string directory, string current);

    [LoggerMessage(LogLevel.Warning, "Cannot use CURRENT (still serving {Current}): {Reason}")]
    private partial void LogCurrentUnreadable(string reason, string current);

    [LoggerMessage(LogLevel.Error, "A file of the served model {Version} changed in place ({Change}); swapping to an intact bundle")]
    private partial void LogServedFilesChanged(string change, string version);

    [LoggerMessage(LogLevel.Critical, "No intact model bundle to swap to; stopped serving {Version} rather than read its damaged files (not ready until one is published)")]
    private partial void LogNothingIntact(string version);

    [LoggerMessage(LogLevel.Warning, "Cannot watch {Directory} for changes ({Reason}); served files are checked at each poll only")]
    private partial void LogNoFileWatch(string directory, string reason);

    [LoggerMessage(LogLevel.Information, "Model notice from Redis: {Message}")]
    private partial void LogNotice(string message);

    [LoggerMessage(LogLevel.Warning, "Redis {Redis} unavailable for model notices; polling only")]
    private partial void LogRedisUnavailable(Exception ex, string redis);
}
