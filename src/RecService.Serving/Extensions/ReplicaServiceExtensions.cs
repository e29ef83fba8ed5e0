using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Serving.Models;
using RecService.Serving.Precompute;
using RecService.Serving.Radio;
using RecService.Serving.Recommendations;
using RecService.Serving.Recommendations.Sources;
using RecService.Serving.Rpc;
using RecService.Serving.State;
using RecService.Serving.Taste;
using RecService.Serving.Telemetry;
using Serilog;
using Serilog.Events;

namespace RecService.Serving.Extensions;

/// <summary>The replica's services: options, Kestrel endpoints, logging, the model and state singletons, gRPC, health, telemetry.</summary>
public static class ReplicaServiceExtensions
{
    public static WebApplicationBuilder AddReplicaServices(this WebApplicationBuilder builder)
    {
        var options = builder.AddServingOptions();
        builder.AddReplicaEndpoints(options);
        builder.AddReplicaLogging();
        builder.Services.AddReplicaModel();
        builder.Services.AddReplicaRpc();
        builder.AddReplicaTelemetry(options);
        return builder;
    }

    /// <summary>
    /// Binds <see cref="ServingOptions"/> from the "Serving" section, validated at start. Returns the values as read
    /// now, for what the host itself needs before it starts (listen URLs, whether traces are exported).
    /// </summary>
    public static ServingOptions AddServingOptions(this WebApplicationBuilder builder)
    {
        var section = builder.Configuration.GetSection(ServingOptions.Section);
        builder.Services.AddOptions<ServingOptions>().Bind(section).ValidateOnStart();
        builder.Services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ServingOptions>, ServingOptionsValidation>());
        return section.Get<ServingOptions>() ?? new ServingOptions();
    }

    /// <summary>Kestrel: REST/health/metrics over HTTP/1.1, gRPC over HTTP/2 without TLS.</summary>
    public static WebApplicationBuilder AddReplicaEndpoints(this WebApplicationBuilder builder, ServingOptions options)
    {
        var endpoints = new ReplicaEndpoints();
        builder.Services.AddSingleton(endpoints);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            endpoints.Http = Listen(kestrel, options.HttpUrl, HttpProtocols.Http1);
            endpoints.Grpc = Listen(kestrel, options.GrpcUrl, HttpProtocols.Http2);
        });
        return builder;
    }

    /// <summary>
    /// Serilog: defaults first, so appsettings / Serilog__MinimumLevel__* can override them: one request-log line per
    /// request, framework chatter only from warnings up.
    /// </summary>
    public static WebApplicationBuilder AddReplicaLogging(this WebApplicationBuilder builder)
    {
        builder.Services.AddSerilog((services, log) => log
            .MinimumLevel.Information()
            .MinimumLevel.Override("Microsoft.AspNetCore", LogEventLevel.Warning)
            .MinimumLevel.Override("Grpc", LogEventLevel.Warning)
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .WriteTo.Console(outputTemplate: "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}"));
        return builder;
    }

    /// <summary>The served model and everything that answers from it: the bundle watcher, shared state, recommendations, radio.</summary>
    public static IServiceCollection AddReplicaModel(this IServiceCollection services)
    {
        services.AddSingleton<ModelHolder>();
        services.AddSingleton<ServingMetrics>();
        services.AddSingleton<RecommendationEngine>();
        services.AddSingleton<BundleWatcher>();
        services.AddSingleton<RedisLink>();
        services.AddSingleton<FreshPlayStore>();
        services.AddSingleton<PrecomputedLists>();
        services.AddSingleton<RecommendationReasons>();
        // The model families whose parts the replica validates at open (AddModelFamily adds more).
        services.AddModelFamily(AlsFamily.Instance);
        services.AddSingleton(sp => new ModelFamilies(sp.GetServices<IModelFamily>()));
        // Recommend's candidate sources, asked in their Order; a new one is a class plus AddCandidateSource.
        services.AddCandidateSource<RealtimeSource>();
        services.AddCandidateSource<PrecomputedSource>();
        services.AddCandidateSource<ModelSource>();
        services.AddCandidateSource<PopularSource>();
        services.AddSingleton<UserRecommendations>();
        services.AddSingleton<StationStore>();
        services.AddSingleton<RadioStations>();
        services.AddHostedService(sp => sp.GetRequiredService<BundleWatcher>());
        return services;
    }

    /// <summary>gRPC with JSON transcoding, reflection, and gRPC health: readiness once a model is loaded, liveness while the process answers.</summary>
    public static IServiceCollection AddReplicaRpc(this IServiceCollection services)
    {
        // Transcoding's JSON settings stay at their defaults: RecommendationJson writes REST Recommend as they do.
        services.AddGrpc(o => o.Interceptors.Add<RpcMetricsInterceptor>()).AddJsonTranscoding();
        services.AddGrpcReflection();
        // gRPC health: "" (and "recservice.v1.Recommender") is SERVING once a model is loaded (readiness);
        // "liveness" is SERVING while the process answers at all.
        services.AddGrpcHealthChecks(o =>
            {
                o.Services.Map("", r => r.Tags.Contains("ready"));
                o.Services.Map("recservice.v1.Recommender", r => r.Tags.Contains("ready"));
                o.Services.Map("recservice.v1.Radio", r => r.Tags.Contains("ready"));
                o.Services.Map(ReplicaHost.LivenessService, r => r.Tags.Contains("live"));
            })
            .AddCheck("process", () => HealthCheckResult.Healthy("answering"), tags: ["live"])
            .AddCheck<ModelLoadedCheck>("model", tags: ["ready"])
            .AddCheck<ModelSourceCheck>("model-source", tags: ["ready"]);
        return services;
    }

    /// <summary>OpenTelemetry: Prometheus metrics always; OTLP traces only when <see cref="ServingOptions.OtlpEndpoint"/> is set.</summary>
    public static WebApplicationBuilder AddReplicaTelemetry(this WebApplicationBuilder builder, ServingOptions options)
    {
        var telemetry = builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("recservice-replica"))
            .WithMetrics(m => m
                .AddMeter(ServingMetrics.MeterName)
                .AddMeter(ReplicaHost.RuntimeMeter)
                .AddAspNetCoreInstrumentation()
                .AddPrometheusExporter());
        // Traces only with somewhere to send them: an unexported span per request is work and allocation for nothing.
        if (!string.IsNullOrWhiteSpace(options.OtlpEndpoint))
            telemetry.WithTracing(t => t
                .AddSource(ServingMetrics.MeterName)
                .AddAspNetCoreInstrumentation()
                .AddOtlpExporter(o => o.Endpoint = new Uri(options.OtlpEndpoint)));
        return builder;
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
