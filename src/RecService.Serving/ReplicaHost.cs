using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
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

/// <summary>Ready when a model is loaded: /readyz and the gRPC health service report it, and say why not.</summary>
public sealed class ModelLoadedCheck(ModelHolder holder, IOptions<ServingOptions> options) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(holder.Current is { } bundle
            ? HealthCheckResult.Healthy($"model {bundle.Version}")
            : HealthCheckResult.Unhealthy(ModelsDirectoryWarning.Missing(options.Value) is { } missing
                ? $"no model loaded: {missing}"
                : $"no model loaded yet from {Path.GetFullPath(options.Value.ModelsDirectory)}"));
}

/// <summary>
/// A models directory that does not exist is said at start, as a warning (the replica still starts: the volume may be
/// mounted or the first bundle published later, and readiness stays off until then).
/// </summary>
public sealed partial class ModelsDirectoryWarning(IOptions<ServingOptions> options, ILogger<ModelsDirectoryWarning> logger) : IHostedService
{
    /// <summary>A sentence naming the models directory when it does not exist; null when it does.</summary>
    public static string? Missing(ServingOptions options) =>
        Directory.Exists(options.ModelsDirectory) ? null : $"models directory {Path.GetFullPath(options.ModelsDirectory)} does not exist";

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Missing(options.Value) is { } missing) LogMissing(missing);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Warning, "The {Missing}: nothing is served (not ready) until a bundle is published there")]
    private partial void LogMissing(string missing);
}
