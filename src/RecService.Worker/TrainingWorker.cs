using System.Diagnostics;
using System.IO.Hashing;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Ingest.Logs;
using RecService.Models;
using RecService.Models.Ensemble;
using System.Text.Json;
using RecService.Models.Als;
using RecService.Redis;
using RecService.Training.Als;
using RecService.Training.Pipeline;
using StackExchange.Redis;

namespace RecService.Worker;

public enum WorkerOutcome
{
    Published,
    Refused,
    Failed,
    Skipped,
}

/// <summary>What one worker run did: the version it published, or why it did not.</summary>
public sealed record WorkerRun(WorkerOutcome Outcome, string? Version, string? Reason, double Seconds);

/// <summary>
/// The training loop: when a new or changed snapshot appears, or the interval passes, it trains the track and
/// artist models on the snapshot window, evaluates them on a held-out split, and publishes a bundle only if the
/// gate passes (finite factors, and tracks precision@10 present and not below the current model's by more than the
/// tolerance). Then it notifies replicas over Redis and prunes old versions. Publishing is atomic, so a crash
/// anywhere leaves the previous bundle serving.
/// </summary>
public sealed partial class TrainingWorker(IOptions<WorkerOptions> options, WorkerMetrics metrics, ILogger<TrainingWorker> logger) : BackgroundService
{
    public const string SignatureKey = "snapshots.signature";
    /// <summary>The part and the held-out precision cut-off the gate compares.</summary>
    public const string GatePart = AlsParts.TracksPart;
    public const int GateK = 10;
    public static string GateMetric => ModelMetrics.PrecisionAt(GatePart, GateK);
    private readonly SemaphoreSlim _runLock = new(1, 1);
    private string? _trainedSignature;
    private DateTimeOffset _lastRun = DateTimeOffset.MinValue;
    private int _completedRuns;
    private ConnectionMultiplexer? _redis;
    private string? _reportedMissing; // the missing input last logged, so it is logged once per change

    private WorkerOptions Options => options.Value;
    private BundleStore Store => new(Options.ModelsDirectory);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // Resume where the published model left off: the same snapshots are not trained again until they
        // change or the interval since that model passes (a restart must not force a retrain and a swap).
        var current = CurrentManifest();
        _trainedSignature = current?.Training.GetValueOrDefault(SignatureKey);
        if (current is not null) _lastRun = current.CreatedUtc;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                ReportMissingInputs();
                var signature = SnapshotSignature();
                var due = DateTimeOffset.UtcNow - _lastRun >= Options.Interval;
                if (signature is not null && (signature != _trainedSignature || due)) await RunOnceAsync(stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                LogLoopError(ex);
            }
            try
            {
                await Task.Delay(Options.SnapshotPollInterval, stoppingToken);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>A missing snapshots or catalog directory is an error, logged once when found missing (and once when
    /// it appears); <see cref="WorkerInputsCheck"/> reports it unhealthy meanwhile.</summary>
    private void ReportMissingInputs()
    {
        var missing = WorkerInputsCheck.Missing(Options);
        if (missing == _reportedMissing) return;
        if (missing is not null) LogInputsMissing(missing);
        else LogInputsFound(Options.SnapshotsDirectory, Options.CatalogDirectory);
        _reportedMissing = missing;
    }

    /// <summary>Runs finished since the worker started, whatever their outcome.</summary>
    public int CompletedRuns => Volatile.Read(ref _completedRuns);

    /// <summary>
    /// One full run (train, evaluate, gate, publish, notify, prune). Runs never overlap. Any failure is a
    /// <see cref="WorkerOutcome.Failed"/> run, counted in the metrics; the same snapshots are then not tried again
    /// until they change or the interval passes, so bad data is not re-read every poll.
    /// </summary>
    public async Task<WorkerRun> RunOnceAsync(CancellationToken ct = default)
    {
        await _runLock.WaitAsync(ct);
        var clock = Stopwatch.StartNew();
        var signature = SnapshotSignature();
        try
        {
            WorkerRun run;
            try
            {
                run = await RunCoreAsync(signature, ct);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(ex);
                run = new WorkerRun(WorkerOutcome.Failed, null, ex.Message, 0);
            }
            if (run.Outcome != WorkerOutcome.Skipped) _trainedSignature = signature;
            run = run with { Seconds = clock.Elapsed.TotalSeconds };
            metrics.Run(run.Outcome.ToString().ToLowerInvariant());
            metrics.Stage("total", run.Seconds);
            return run;
        }
        finally
        {
            _lastRun = DateTimeOffset.UtcNow;
            Interlocked.Increment(ref _completedRuns);
            _runLock.Release();
        }
    }

    private async Task<WorkerRun> RunCoreAsync(string? signature, CancellationToken ct)
    {
        if (signature is null)
        {
            LogNoSnapshots(Options.SnapshotsDirectory);
            return new WorkerRun(WorkerOutcome.Skipped, null, "no snapshots", 0);
        }
        var als = new AlsOptions
        {
            Factors = Options.Factors,
            Iterations = Options.Iterations,
            Regularization = Options.Regularization,
            Alpha = Options.Alpha,
            Threads = Options.Threads,
        };
        var job = new TrainingJob(new TrainingJobOptions
        {
            SnapshotsDirectory = Options.SnapshotsDirectory,
            CatalogDirectory = Options.CatalogDirectory,
            WindowDays = Options.WindowDays,
            Tracks = als,
            Artists = als,
            HoldoutFraction = Options.HoldoutFraction,
            EvaluationK = GateK,
            Forests = new BundleForestOptions { TrackTrees = Options.Trees, ArtistTrees = Options.Trees, CodedTrees = Options.CodedTrees, Threads = Options.Threads, TargetRecall = Options.TargetRecall },
        }, e =>
        {
            if (e.Iteration is { } it) LogIteration(e.Message, it.Iteration, it.Elapsed.TotalSeconds, it.LossPerNonZero);
            else LogStage(e.Stage, e.Message);
        });

        TrainingResult result;
        try
        {
            result = await Task.Run(() => job.RunAsync(ct), ct);
        }
        catch (TrainingDivergedException ex)
        {
            return Refuse("non_finite", $"training diverged: {ex.Message}");
        }
        foreach (var (stage, seconds) in result.StageSeconds) metrics.Stage(stage, seconds);

        if (Gate(result) is { } refusal) return refusal;

        foreach (var part in result.Parts)
            foreach (var (role, matrix) in part.Content.Matrices)
                if (!BundleWriter.AllFinite(matrix.Values)) return Refuse("non_finite", $"part {part.Content.Name}: {role} holds NaN or infinity");

        var publishClock = Stopwatch.StartNew();
        var published = job.Publish(result, Store, new Dictionary<string, string> { [SignatureKey] = signature });
        metrics.Stage("publish", publishClock.Elapsed.TotalSeconds);
        metrics.Metrics(published.AllMetrics());
        metrics.Published(published.CreatedUtc);
        // The model is live once CURRENT moved: pruning and the notice are best effort and cannot undo it.
        var pruned = 0;
        try
        {
            pruned = Store.Prune(Options.Keep).Count;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogPruneFailed(ex);
        }
        await NotifyAsync(published.ModelVersion);
        LogPublished(published.ModelVersion, GateMetric, result.Metric(GatePart, ModelMetrics.PrecisionAt(GateK)) ?? double.NaN, pruned);
        return new WorkerRun(WorkerOutcome.Published, published.ModelVersion, null, 0);
    }

    /// <summary>
    /// The metric gate: the candidate's <see cref="GateMetric"/> must be finite and not more than the tolerance below the
    /// current model's. A metric missing on either side refuses (never a silent pass); only the first model, with no
    /// current one to compare against, is published on its own metric.
    /// </summary>
    private WorkerRun? Gate(TrainingResult result)
    {
        var metric = ModelMetrics.PrecisionAt(GateK);
        if (result.Metric(GatePart, metric) is not { } candidate)
            return Refuse("metric_missing", $"the candidate has no {GateMetric} (hold-out fraction {Options.HoldoutFraction}: 0 evaluates nothing)");
        if (!double.IsFinite(candidate)) return Refuse("non_finite", $"held-out {GateMetric} is not a finite number");
        var current = CurrentManifest();
        if (current is null) return null;
        if (current.PartMetric(GatePart, metric) is not { } previous || !double.IsFinite(previous))
            return Refuse("metric_missing", $"the current model {current.ModelVersion} has no {GateMetric} to compare against");
        if (candidate < previous * (1 - Options.GateTolerance))
            return Refuse("precision_drop",
                $"{GateMetric} {candidate:F4} is more than {Options.GateTolerance:P0} below the current model's {previous:F4} ({current.ModelVersion})");
        return EnsembleGate(result.Parts, current, Options.GateTolerance) is { } refusal ? Refuse(refusal.Reason, refusal.Detail) : null;
    }

    /// <summary>
    /// The ensemble's gate, per blend part: its held-out related-items precision must be finite, not more than the
    /// tolerance below the best single part's on the same seeds (a blend that loses to one of its parts is not shipped),
    /// and not more than the tolerance below the current model's blend (when that has one).
    /// </summary>
    public static (string Reason, string Detail)? EnsembleGate(IReadOnlyList<TrainedPart> parts, BundleManifest? current, double tolerance)
    {
        foreach (var part in parts.Where(p => p.Content.Family == BlendFamily.Name))
        {
            var name = part.Content.Name;
            var space = part.Content.Parameters.Deserialize<BlendParameters>(BundleManifest.Json)?.Space ?? IdSpaces.Artists;
            var k = ModelMetrics.RelatedK(space);
            var metric = ModelMetrics.RelatedPrecisionAt(k);
            var metrics = part.Content.Metrics;
            if (!metrics.TryGetValue(metric, out var ensemble)) return ("metric_missing", $"blend {name} has no {metric}");
            if (!double.IsFinite(ensemble)) return ("non_finite", $"blend {name}: {metric} is not a finite number");
            foreach (var (key, single) in metrics)
                if (ModelMetrics.RelatedPrecisionPart(key, k) is { } other && double.IsFinite(single) && ensemble < single * (1 - tolerance))
                    return ("ensemble_below_part", $"blend {name}: {metric} {ensemble:F4} is more than {tolerance:P0} below part {other}'s {single:F4}");
            if (current?.PartMetric(name, metric) is { } previous && double.IsFinite(previous) && ensemble < previous * (1 - tolerance))
                return ("related_drop", $"blend {name}: {metric} {ensemble:F4} is more than {tolerance:P0} below the current model's {previous:F4} ({current.ModelVersion})");
        }
        return null;
    }

    private WorkerRun Refuse(string reason, string detail)
    {
        metrics.Refused(reason);
        LogRefused(reason, detail);
        return new WorkerRun(WorkerOutcome.Refused, null, $"{reason}: {detail}", 0);
    }

    private BundleManifest? CurrentManifest()
    {
        try
        {
            return Store.CurrentVersion() is { } version ? BundleManifest.Read(Store.PathOf(version)) : null;
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException)
        {
            return null;
        }
    }

    /// <summary>A hash of the snapshot window's folders, file names, sizes and times: changes when a snapshot arrives or is rewritten.</summary>
    public string? SnapshotSignature()
    {
        if (!Directory.Exists(Options.SnapshotsDirectory)) return null;
        var window = SnapshotSet.Discover(Options.SnapshotsDirectory).Window(Options.WindowDays);
        if (window.Count == 0) return null;
        var text = new StringBuilder();
        foreach (var snapshot in window)
        {
            foreach (var file in snapshot.Files)
            {
                var info = new FileInfo(file);
                text.Append(snapshot.Date).Append('/').Append(info.Name).Append(':').Append(info.Length).Append(':').Append(info.LastWriteTimeUtc.Ticks).Append('\n');
            }
        }
        return Convert.ToHexStringLower(XxHash3.Hash(Encoding.UTF8.GetBytes(text.ToString())));
    }

    private async Task NotifyAsync(string version)
    {
        if (string.IsNullOrWhiteSpace(Options.Redis)) return;
        try
        {
            _redis ??= await RedisConnections.ConnectAsync(Options.Redis, RedisRole.Worker, TimeSpan.FromSeconds(2));
            var receivers = await _redis.GetSubscriber().PublishAsync(RedisKeys.ModelChannel(Options.ModelChannel), version);
            LogNotified(version, receivers);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogNotifyFailed(ex, version); // replicas still find the version by polling CURRENT
        }
    }

    public override void Dispose()
    {
        _redis?.Dispose();
        base.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "{Stage}: {Message}")]
    private partial void LogStage(string stage, string message);

    [LoggerMessage(LogLevel.Debug, "{Model} iteration {Iteration}: {Seconds:F2} s, loss {Loss:F5} per nnz")]
    private partial void LogIteration(string model, int iteration, double seconds, double loss);

    [LoggerMessage(LogLevel.Information, "Published model {Version} ({Metric} {Precision:F4}); pruned {Pruned} old versions")]
    private partial void LogPublished(string version, string metric, double precision, int pruned);

    [LoggerMessage(LogLevel.Warning, "Gate refused the new model ({Reason}): {Detail}; the current model keeps serving")]
    private partial void LogRefused(string reason, string detail);

    [LoggerMessage(LogLevel.Error, "Training run failed; the current model keeps serving")]
    private partial void LogFailed(Exception ex);

    [LoggerMessage(LogLevel.Warning, "Pruning old versions failed; will try again after the next publish")]
    private partial void LogPruneFailed(Exception ex);

    [LoggerMessage(LogLevel.Error, "Worker loop error")]
    private partial void LogLoopError(Exception ex);

    [LoggerMessage(LogLevel.Error, "{Problem}: nothing can be trained until it exists (the worker reports unhealthy meanwhile)")]
    private partial void LogInputsMissing(string problem);

    [LoggerMessage(LogLevel.Information, "Input directories present: snapshots {Snapshots}, catalog {Catalog}")]
    private partial void LogInputsFound(string snapshots, string catalog);

    [LoggerMessage(LogLevel.Warning, "No snapshots under {Directory}")]
    private partial void LogNoSnapshots(string directory);

    [LoggerMessage(LogLevel.Information, "Announced {Version} on Redis to {Receivers} subscribers")]
    private partial void LogNotified(string version, long receivers);

    [LoggerMessage(LogLevel.Warning, "Could not announce {Version} on Redis; replicas will find it by polling")]
    private partial void LogNotifyFailed(Exception ex, string version);
}
