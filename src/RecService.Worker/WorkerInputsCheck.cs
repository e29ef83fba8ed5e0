using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;

namespace RecService.Worker;

/// <summary>The worker's /healthz: unhealthy while its snapshots or catalog directory does not exist (a worker that
/// can never train must not look healthy; empty directories are fine, data may not have arrived yet).</summary>
public sealed class WorkerInputsCheck(IOptions<WorkerOptions> options) : IHealthCheck
{
    /// <summary>Which input directory is missing, as a sentence naming it; null when both exist.</summary>
    public static string? Missing(WorkerOptions options) =>
        !Directory.Exists(options.SnapshotsDirectory) ? $"Snapshots directory {Path.GetFullPath(options.SnapshotsDirectory)} does not exist"
        : !Directory.Exists(options.CatalogDirectory) ? $"Catalog directory {Path.GetFullPath(options.CatalogDirectory)} does not exist"
        : null;

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(Missing(options.Value) is { } missing ? HealthCheckResult.Unhealthy(missing) : HealthCheckResult.Healthy("inputs present"));
}
