using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.Extensions.DependencyInjection;
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
        // An empty-bodied REST error (no route: 404, wrong method: 405) gets the JSON error body.
        app.UseStatusCodePages(context =>
        {
            var http = context.HttpContext;
            if (http.Request.ContentType is { } type && type.StartsWith("application/grpc", StringComparison.Ordinal)) return Task.CompletedTask;
            var (code, message) = RestErrors.Describe(http.Response.StatusCode, http.Request.Method, http.Request.Path);
            return RestErrors.WriteAsync(http.Response, http.Response.StatusCode, code, message);
        });
        app.UseMiddleware<RestRequestLimits>();
        app.MapGrpcService<RecommenderService>();
        app.MapGrpcService<RadioService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
