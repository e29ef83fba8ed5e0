using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RecService.Serving.Extensions;
using RecService.Serving.Rpc;
using RecService.Serving.Models;
using RecService.Serving.Precompute;
using RecService.Serving.Radio;
using RecService.Serving.State;
using RecService.Serving.Taste;
using RecService.Serving.Recommendations;
using RecService.Serving.Recommendations.Sources;
using RecService.Serving.Telemetry;
using Serilog;
using Serilog.Events;

namespace RecService.Serving;

/// <summary>
/// Builds a replica: Kestrel with a REST/health/metrics endpoint (HTTP/1.1) and a gRPC endpoint (HTTP/2 without
/// TLS), the recservice.v1 service with JSON transcoding, gRPC health and reflection, Prometheus metrics and
/// OTLP traces through OpenTelemetry, Serilog request logs, and the bundle watcher.
/// </summary>
public static class ReplicaHost
{
    public const string LivenessService = "liveness";

    /// <summary>.NET's built-in runtime meter (GC collections, heap, allocated bytes, thread pool, exceptions).</summary>
    public const string RuntimeMeter = "System.Runtime";

    public static WebApplication Build(string[] args, IDictionary<string, string?>? overrides = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);
        var options = builder.Configuration.GetSection(ServingOptions.Section).Get<ServingOptions>() ?? new ServingOptions();
        options.Validate();
        builder.Services.Configure<ServingOptions>(builder.Configuration.GetSection(ServingOptions.Section));
        if (overrides is not null) builder.Services.PostConfigure<ServingOptions>(o => builder.Configuration.GetSection(ServingOptions.Section).Bind(o));

        var endpoints = new ReplicaEndpoints();
        builder.Services.AddSingleton(endpoints);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            endpoints.Http = Listen(kestrel, options.HttpUrl, HttpProtocols.Http1);
            endpoints.Grpc = Listen(kestrel, options.GrpcUrl, HttpProtocols.Http2);
        });

        // Defaults first, so appsettings / Serilog__MinimumLevel__* can override them: one request-log line per
        // request from Serilog, framework chatter only from warnings up.
        builder.Services.AddSerilog((services, log) => log
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}"));

        builder.Services.AddSingleton<ModelHolder>();
        builder.Services.AddSingleton<ServingMetrics>();
        builder.Services.AddSingleton<RecommendationEngine>();
        builder.Services.AddSingleton<BundleWatcher>();
        builder.Services.AddSingleton<RedisLink>();
        builder.Services.AddSingleton<FreshPlayStore>();
        builder.Services.AddSingleton<PrecomputedLists>();
        builder.Services.AddSingleton<TasteFoldIn>();
        builder.Services.AddSingleton<RecommendationReasons>();
        builder.Services.AddCandidateSource<RealtimeSource>();
        builder.Services.AddCandidateSource<PrecomputedSource>();
        builder.Services.AddCandidateSource<ModelSource>();
        builder.Services.AddCandidateSource<PopularSource>();
        builder.Services.AddSingleton<UserRecommendations>();
        builder.Services.AddSingleton<StationStore>();
        builder.Services.AddSingleton<RadioStations>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<BundleWatcher>());

        // Transcoding's JSON settings stay at their defaults: RecommendationJson writes REST Recommend as they do.
        builder.Services.AddGrpc(o => o.Interceptors.Add<RpcMetricsInterceptor>()).AddJsonTranscoding();
        builder.Services.AddGrpcReflection();
        // gRPC health: "" (and "recservice.v1.Recommender") is SERVING once a model is loaded (readiness);
        // "liveness" is SERVING while the process answers at all.
        builder.Services.AddGrpcHealthChecks(o =>
            {
                o.Services.Map("", r => r.Tags.Contains("ready"));
                o.Services.Map("recservice.v1.Recommender", r => r.Tags.Contains("ready"));
                o.Services.Map("recservice.v1.Radio", r => r.Tags.Contains("ready"));
                o.Services.Map(LivenessService, r => r.Tags.Contains("live"));
            })
            .AddCheck("process", () => HealthCheckResult.Healthy("answering"), tags: ["live"])
            .AddCheck<ModelLoadedCheck>("model", tags: ["ready"]);

        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("recservice-replica"))
            .WithMetrics(m => m
                .AddMeter(ServingMetrics.MeterName)
                .AddMeter(RuntimeMeter)
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter());
        // Traces only with somewhere to send them: an unexported span per request is work and allocation for nothing.
        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint))
            telemetry.WithTracing(t => t
                .AddSource(ServingMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(o => o.Endpoint = new Uri(options.OtlpEndpoint)));

        var app = builder.Build();
        app.Services.GetRequiredService<RedisLink>(); // connect to Redis (when configured) at start, not on the first request
        app.UseSerilogRequestLogging();
        app.MapGrpcService<RecommenderService>();
        app.MapGrpcService<RadioService>();
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("live") });
        app.MapHealthChecks("/readyz", new HealthCheckOptions { Predicate = c => c.Tags.Contains("ready") });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }

    private static ListenOptions Listen(KestrelServerOptions kestrel, string url, HttpProtocols protocols)
    {
        var uri = new Uri(url.Replace("://*:", "://0.0.0.0:").Replace("://+:", "://0.0.0.0:"));
        if (uri.Scheme != Uri.UriSchemeHttp) throw new ArgumentException($"'{url}': only http:// endpoints are served (terminate TLS in front of the replica).");
        ListenOptions? bound = null;
        Action<ListenOptions> configure = o =>
        {
            o.Protocols = protocols;
            bound = o;
        };
        if (uri.Host is "localhost") kestrel.ListenLocalhost(uri.Port, configure);
        else if (uri.Host is "0.0.0.0") kestrel.ListenAnyIP(uri.Port, configure);
        else kestrel.Listen(IPAddress.Parse(uri.Host), uri.Port, configure);
        return bound!;
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
