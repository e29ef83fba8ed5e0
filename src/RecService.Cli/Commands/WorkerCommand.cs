using System.CommandLine;
using Microsoft.Extensions.Hosting;
using RecService.Worker;

namespace RecService.Cli.Commands;

/// <summary><c>rec worker</c>: the training loop, configured by flags or Worker__* environment variables.</summary>
public static class WorkerCommand
{
    public static Command Create()
    {
        var d = new WorkerOptions();
        var snapshots = new Option<string>("--snapshots") { Description = "Directory of yyyy-MM-dd snapshot folders", DefaultValueFactory = _ => d.SnapshotsDirectory };
        var catalog = new Option<string>("--catalog") { Description = "Directory with tracks.tsv and artists.tsv", DefaultValueFactory = _ => d.CatalogDirectory };
        var models = new Option<string>("--models") { Description = "Models directory to publish into", DefaultValueFactory = _ => d.ModelsDirectory };
        var interval = new Option<TimeSpan>("--interval") { Description = "Retrain at least this often (hh:mm:ss)", DefaultValueFactory = _ => d.Interval };
        var days = new Option<int>("--days") { Description = "Train on the last N days (0 = all)", DefaultValueFactory = _ => d.WindowDays };
        var tolerance = new Option<double>("--gate-tolerance") { Description = "Refuse a model whose precision@10 drops by more than this fraction", DefaultValueFactory = _ => d.GateTolerance };
        var keep = new Option<int>("--keep") { Description = "Versions kept on disk", DefaultValueFactory = _ => d.Keep };
        var redis = new Option<string?>("--redis") { Description = "Redis configuration for new-model notices" };
        var http = new Option<string>("--http") { Description = "/healthz and /metrics endpoint", DefaultValueFactory = _ => d.HttpUrl };
        var command = new Command("worker", "Train and publish models whenever a new snapshot appears (and at least every --interval), gated on held-out precision.")
        {
            snapshots, catalog, models, interval, days, tolerance, keep, redis, http,
        };
        command.SetAction(async (parse, ct) =>
        {
            string Key(string name) => $"{WorkerOptions.Section}:{name}";
            var settings = new ConfigurationOverrides(parse)
                .Add(snapshots, Key(nameof(WorkerOptions.SnapshotsDirectory)))
                .Add(catalog, Key(nameof(WorkerOptions.CatalogDirectory)))
                .Add(models, Key(nameof(WorkerOptions.ModelsDirectory)))
                .Add(interval, Key(nameof(WorkerOptions.Interval)))
                .Add(days, Key(nameof(WorkerOptions.WindowDays)))
                .Add(tolerance, Key(nameof(WorkerOptions.GateTolerance)))
                .Add(keep, Key(nameof(WorkerOptions.Keep)))
                .Add(redis, Key(nameof(WorkerOptions.Redis)))
                .Add(http, Key(nameof(WorkerOptions.HttpUrl)))
                .Settings;
            var app = WorkerHost.Build([], settings);
            await app.StartAsync(ct);
            await app.WaitForShutdownAsync(ct);
            return 0;
        });
        return command;
    }
}
