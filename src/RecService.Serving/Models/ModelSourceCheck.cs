using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RecService.Serving.Models;

/// <summary>Degraded (still ready: /readyz answers 200) while the replica serves something other than what CURRENT
/// names: a start-up fallback, a refused or unreadable CURRENT. The reason is the check's description.</summary>
public sealed class ModelSourceCheck(BundleWatcher watcher) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(watcher.Degraded is { } reason ? HealthCheckResult.Degraded(reason) : HealthCheckResult.Healthy("serving CURRENT"));
}
