using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using RecService.Serving.Extensions;
using RecService.Serving.Models;

namespace RecService.Serving;

/// <summary>
/// Builds a replica: Kestrel with a REST/health/metrics endpoint (HTTP/1.1) and a gRPC endpoint (HTTP/2 without
/// TLS), the recservice.v1 service with JSON transcoding, gRPC health and reflection, Prometheus metrics and
/// OTLP traces through OpenTelemetry, Serilog request logs, and the bundle watcher. The wiring is in
/// <see cref="ReplicaServiceExtensions"/> and <see cref="ReplicaEndpointExtensions"/>.
/// </summary>
public static class ReplicaHost
{
    public const string LivenessService = "liveness";

    /// <summary>.NET's built-in runtime meter (GC collections, heap, allocated bytes, thread pool, exceptions).</summary>
    public const string RuntimeMeter = "System.Runtime";

    /// <summary>
    /// A replica configured from appsettings, environment and <paramref name="overrides"/> (which win; the CLI's flags, tests);
    /// <paramref name="extend"/> adds registrations after the built-in ones (a model family, a candidate source).
    /// </summary>
    public static WebApplication Build(string[] args, IDictionary<string, string?>? overrides = null, Action<IServiceCollection>? extend = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);
        builder.AddReplicaServices();
        extend?.Invoke(builder.Services);
        return builder.Build().MapReplicaEndpoints();
    }
}

/// <summary>
/// The replica's two listening endpoints. After start they carry the ports actually bound, so a replica
/// configured with port 0 (tests, benchmarks) can say where it listens without a race for a "free" port.
/// </summary>
public sealed class ReplicaEndpoints
{
    internal ListenOptions? Http { get; set; }
    internal ListenOptions? Grpc { get; set; }

    public int HttpPort => (Http?.IPEndPoint ?? throw new InvalidOperationException("The replica has not been configured.")).Port;
    public int GrpcPort => (Grpc?.IPEndPoint ?? throw new InvalidOperationException("The replica has not been configured.")).Port;
}

/// <summary>Ready when a model is loaded: /readyz and the gRPC health service report it.</summary>
public sealed class ModelLoadedCheck(ModelHolder holder) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(holder.Current is { } bundle
            ? HealthCheckResult.Healthy($"model {bundle.Version}")
            : HealthCheckResult.Unhealthy("no model loaded"));
}
