using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using RecService.Hosting;
using Serilog;

namespace RecService.Worker;

/// <summary>The worker process: the training loop as a hosted service, plus /healthz and Prometheus /metrics.</summary>
public static class WorkerHost
{
    public static WebApplication Build(string[] args, IDictionary<string, string?>? overrides = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        if (overrides is not null) builder.Configuration.AddInMemoryCollection(overrides);
        var options = builder.Configuration.GetSection(WorkerOptions.Section).Get<WorkerOptions>() ?? new WorkerOptions();
        builder.Services.Configure<WorkerOptions>(builder.Configuration.GetSection(WorkerOptions.Section));
        ServiceAddress.Listen(options.HttpUrl, $"{WorkerOptions.Section}:{nameof(WorkerOptions.HttpUrl)}"); // refused here, clearly, not by Kestrel at start
        if (!Core.Bundle.BundleForestOptions.IsTargetRecall(options.TargetRecall)) // refused at start, not at the first publish after a training run
            throw new ArgumentException($"{WorkerOptions.Section}:{nameof(WorkerOptions.TargetRecall)} must be in [0, 1] (got {options.TargetRecall}).");
        builder.WebHost.UseUrls(options.HttpUrl);

        builder.Services.AddSerilog((_, log) => log.ServiceDefaults(builder.Configuration, "Microsoft.AspNetCore"));

        builder.Services.AddSingleton<WorkerMetrics>();
        builder.Services.AddSingleton<TrainingWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<TrainingWorker>());
        builder.Services.AddHealthChecks().AddCheck<WorkerInputsCheck>("inputs");
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("recservice-worker"))
            .WithMetrics(m => m.AddMeter(WorkerMetrics.MeterName).AddMeter("System.Runtime").AddPrometheusExporter()); // plus .NET's built-in runtime meter (GC, heap, thread pool)

        var app = builder.Build();
        app.MapHealthChecks("/healthz", new HealthCheckOptions { ResponseWriter = HealthText.WriteAsync });
        app.MapPrometheusScrapingEndpoint("/metrics");
        return app;
    }
}
