using System.Net;
using Grpc.AspNetCore.Server;
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
using RecService.Hosting;
using Serilog;

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

    /// <summary>
    /// Kestrel: REST/health/metrics over HTTP/1.1, gRPC over HTTP/2 without TLS. Bodies are bounded by
    /// <see cref="ServingOptions.LimitSettings.MaxRequestBodyBytes"/>; the request line by Kestrel's request buffer, above
    /// <see cref="ServingOptions.LimitSettings.MaxUrlBytes"/>, so a long URL reaches <see cref="RestRequestLimits"/> and
    /// gets its 414 with the JSON body (Kestrel's own refusals have none).
    /// </summary>
    public static WebApplicationBuilder AddReplicaEndpoints(this WebApplicationBuilder builder, ServingOptions options)
    {
        var endpoints = new ReplicaEndpoints();
        builder.Services.AddSingleton(endpoints);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.Limits.MaxRequestBodySize = options.Limits.MaxRequestBodyBytes;
            kestrel.Limits.MaxRequestLineSize = (int)Math.Min(kestrel.Limits.MaxRequestBufferSize ?? int.MaxValue, 2L * ServingOptionsValidation.MaxUrlBytesCeiling);
            endpoints.Http = Listen(kestrel, options.HttpUrl, HttpProtocols.Http1, $"{ServingOptions.Section}:{nameof(ServingOptions.HttpUrl)}");
            endpoints.Grpc = Listen(kestrel, options.GrpcUrl, HttpProtocols.Http2, $"{ServingOptions.Section}:{nameof(ServingOptions.GrpcUrl)}");
        });
        return builder;
    }

    /// <summary>Serilog as every service logs (<see cref="ServiceLogging"/>, values escaped): one request-log line per request.</summary>
    public static WebApplicationBuilder AddReplicaLogging(this WebApplicationBuilder builder)
    {
        builder.Services.AddSerilog((_, log) => log.ServiceDefaults(builder.Configuration, "Microsoft.AspNetCore", "Grpc"));
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
        services.AddCandidateSource<EnsembleSource>();
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
        // A larger message is refused unread with RESOURCE_EXHAUSTED, the REST body limit's counterpart.
        services.AddOptions<GrpcServiceOptions>().Configure<IOptions<ServingOptions>>((grpc, serving) => grpc.MaxReceiveMessageSize = serving.Value.Limits.MaxRequestBodyBytes);
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
        services.AddHostedService<ModelsDirectoryWarning>();
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

    private static ListenOptions Listen(KestrelServerOptions kestrel, string url, HttpProtocols protocols, string setting)
    {
        var uri = ServiceAddress.Listen(url, setting);
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
