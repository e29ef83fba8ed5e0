using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
using RecService.Hosting;
using RecService.Serving.Rpc;
using RecService.Serving.State;
using Serilog;

namespace RecService.Serving.Extensions;

/// <summary>
/// The replica's routes: the gRPC services (REST through transcoding), health, reflection, /healthz, /readyz, /metrics.
/// REST refusals outside transcoding (limits, unknown routes, wrong methods) carry the same JSON error body as RPC errors.
/// </summary>
public static class ReplicaEndpointExtensions
{
    public static WebApplication MapReplicaEndpoints(this WebApplication app)
    {
        app.Services.GetRequiredService<RedisLink>(); // connect to Redis (when configured) at start, not on the first request
        app.UseSerilogRequestLogging();
        // REST limits, and the JSON error body for refusals outside transcoding (no route, wrong method).
        app.UseMiddleware<RestRequestLimits>();
        app.MapGrpcService<RecommenderService>();
        app.MapGrpcService<RadioService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("live"), ResponseWriter = HealthText.WriteAsync });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready"), ResponseWriter = HealthText.WriteAsync });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
