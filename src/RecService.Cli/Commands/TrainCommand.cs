using System.CommandLine;
using RecService.Core.Bundle;
using RecService.Ingest.Logs;
using RecService.Training.Pipeline;

namespace RecService.Cli.Commands;

/// <summary><c>rec train</c>: snapshots -> evaluated ALS models for tracks and artists -> a published model bundle.</summary>
public static class TrainCommand
{
    public static Command Create()
    {
        var snapshots = new Option<string>("--snapshots") { Description = "Directory of yyyy-MM-dd snapshot folders", Required = true };
        var catalog = new Option<string>("--catalog") { Description = "Directory with tracks.tsv and artists.tsv", Required = true };
        var models = new Option<string>("--models") { Description = "Models directory to publish into (versions + CURRENT)", DefaultValueFactory = _ => "models" };
        var days = new Option<int>("--days") { Description = "Train on the last N days of snapshots (0 = all)", DefaultValueFactory = _ => 0 };
        var holdout = new Option<double>("--holdout") { Description = "Share of pairs held out for evaluation (0 = skip)", DefaultValueFactory = _ => 0.2 };
        var trees = new Option<int>("--trees") { Description = "Trees per forest", DefaultValueFactory = _ => new BundleForestOptions().TrackTrees };
        var codedTrees = IndexCommand.CodedTreesOption();
        var keep = new Option<int>("--keep") { Description = "Published versions to keep", DefaultValueFactory = _ => 5 };
        var noPublish = new Option<bool>("--no-publish") { Description = "Train and evaluate only" };
        var playlists = new Option<string?>("--playlists") { Description = "Directory of playlist files (default: playlists/ beside --snapshots, read if present)" };
        var sessionGap = new Option<double>("--session-gap") { Description = "Minutes between timestamped plays that start a new listening session", DefaultValueFactory = _ => PlayReadOptions.DefaultSessionGap.TotalMinutes };
        var halfLife = HalfLifeOption();
        var noEnsemble = new Option<bool>("--no-ensemble") { Description = "Train the ALS parts only (no BPR, word2vec, tag parts or blend): replicas answer from ALS alone" };
        var without = new Option<string[]>("--without") { Description = "An ensemble part not to train (bpr-tracks, w2v-tracks, w2v-artists, tags-artists); repeatable", AllowMultipleArgumentsPerToken = true };
        var als = new AlsCommandOptions();
        var command = new Command("train", "Train track and artist models from snapshot logs, evaluate them, and publish a model bundle.")
        {
            snapshots, catalog, models, days, holdout, trees, codedTrees, keep, noPublish, playlists, sessionGap, halfLife, noEnsemble, without,
        };
        als.AddTo(command);
        command.SetAction(async (parse, ct) =>
        {
            var alsOptions = als.Read(parse);
            var options = new TrainingJobOptions
            {
                SnapshotsDirectory = parse.GetValue(snapshots)!,
                CatalogDirectory = parse.GetValue(catalog)!,
                WindowDays = parse.GetValue(days),
                HoldoutFraction = parse.GetValue(holdout),
                PlaylistsDirectory = parse.GetValue(playlists),
                SessionGap = SessionGap(parse.GetValue(sessionGap)),
                RecencyHalfLifeDays = HalfLife(parse.GetValue(halfLife)),
                Tracks = alsOptions,
                Artists = alsOptions,
                Seed = alsOptions.Seed,
                Ensemble = new EnsembleOptions
                {
                    Enabled = !parse.GetValue(noEnsemble), Threads = alsOptions.Threads, Without = (parse.GetValue(without) ?? []).ToHashSet(StringComparer.Ordinal),
                },
                Forests = new BundleForestOptions
                {
                    TrackTrees = parse.GetValue(trees), ArtistTrees = parse.GetValue(trees), CodedTrees = parse.GetValue(codedTrees), Threads = alsOptions.Threads,
                },
            };
            try
            {
                var manifest = await RunAsync(options, parse.GetValue(noPublish) ? null : new BundleStore(parse.GetValue(models)!), parse.GetValue(keep), ct);
                return manifest is null && !parse.GetValue(noPublish) ? 1 : 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return IngestCommand.Cancelled("train cancelled; nothing was published");
            }
        });
        return command;
    }

    /// <summary><c>--half-life-days</c>, shared with <c>rec eval</c>.</summary>
    public static Option<double> HalfLifeOption() => new("--half-life-days")
    {
        Description = "Weight each play by 0.5^(age in days / this), age from the newest snapshot (or timestamp); 0 = off",
        DefaultValueFactory = _ => 0,
    };

    public static double HalfLife(double days) =>
        days >= 0 && double.IsFinite(days) ? days : throw new ArgumentException($"--half-life-days must be 0 (off) or a positive number of days (got {days}).");

    private static TimeSpan SessionGap(double minutes) =>
        minutes > 0 && minutes <= TimeSpan.MaxValue.TotalMinutes / 2 ? TimeSpan.FromMinutes(minutes) : throw new ArgumentException($"--session-gap must be a positive number of minutes (got {minutes}).");

    /// <summary>Runs a job, printing stages and iterations; publishes when a store is given. Shared with <c>rec demo</c>.</summary>
    public static async Task<BundleManifest?> RunAsync(TrainingJobOptions options, BundleStore? store, int keep, CancellationToken ct)
    {
        var job = new TrainingJob(options, e =>
        {
            // Plain lines: they go to logs as often as to a terminal, and must not wrap at 80 columns.
            if (e.Iteration is { } it)
                Console.WriteLine($"  {e.Message} iteration {it.Iteration,2}: {it.Elapsed.TotalSeconds,6:F2} s, loss {it.LossPerNonZero:F5} per nnz");
            else
                Console.WriteLine($"{e.Stage}: {e.Message}");
        });
        var result = await job.RunAsync(ct);
        if (store is null) return null;
        var manifest = job.Publish(result, store);
        var pruned = store.Prune(keep);
        if (pruned.Count > 0) Console.WriteLine($"prune: removed {string.Join(", ", pruned)}");
        return manifest;
    }
}
