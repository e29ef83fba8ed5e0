using System.Text.Json;
using System.CommandLine;
using RecService.Core.Bundle;
using RecService.Ingest.Logs;
using RecService.Training.Pipeline;

namespace RecService.Cli.Commands;

/// <summary><c>rec train</c>: snapshots -> evaluated ALS models for tracks and artists -> a published model bundle.</summary>
public static class TrainCommand
{
    public static Command Create() => Build("train", "Train track and artist models from snapshot logs, evaluate them, and publish a model bundle.", evaluateOnly: false);

    /// <summary><c>rec eval ensemble</c>: the same run, never published, ending with each part's and each blend's held-out figures side by side.</summary>
    public static Command CreateEvaluation() => Build("ensemble",
        "Train every part and the blends on the hold-out split of the snapshots and report each part's and each blend's held-out metrics side by side (nothing is published).", evaluateOnly: true);

    private static Command Build(string name, string description, bool evaluateOnly)
    {
        var snapshots = new Option<string>("--snapshots") { Description = "Directory of yyyy-MM-dd snapshot folders", Required = true };
        var catalog = new Option<string>("--catalog") { Description = "Directory with tracks.tsv and artists.tsv", Required = true };
        var models = new Option<string>("--models") { Description = "Models directory to publish into (versions + CURRENT)", DefaultValueFactory = _ => "models" };
        var days = new Option<int>("--days") { Description = "Train on the last N days of snapshots (0 = all)", DefaultValueFactory = _ => 0 };
        var holdout = new Option<double>("--holdout") { Description = "Share of pairs held out for evaluation (0 = skip)", DefaultValueFactory = _ => 0.2 };
        var trees = new Option<int>("--trees") { Description = "Trees per forest", DefaultValueFactory = _ => new BundleForestOptions().TrackTrees };
        var codedTrees = IndexCommand.CodedTreesOption();
        var targetRecall = new Option<float>("--target-recall")
        {
            Description = "Recall@10 each forest's default search size is raised to reach on the model's own users and items (0 = the fixed default)",
            DefaultValueFactory = _ => new BundleForestOptions().TargetRecall,
        };
        var keep = new Option<int>("--keep") { Description = "Published versions to keep", DefaultValueFactory = _ => 5 };
        var noPublish = new Option<bool>("--no-publish") { Description = "Train and evaluate only" };
        var playlists = new Option<string?>("--playlists") { Description = "Directory of playlist files (default: playlists/ beside --snapshots, read if present)" };
        var sessionGap = new Option<double>("--session-gap") { Description = "Minutes between timestamped plays that start a new listening session", DefaultValueFactory = _ => PlayReadOptions.DefaultSessionGap.TotalMinutes };
        var halfLife = HalfLifeOption();
        var noEnsemble = new Option<bool>("--no-ensemble") { Description = "Train the ALS parts only (no BPR, word2vec, tag parts or blend): replicas answer from ALS alone" };
        var without = new Option<string[]>("--without") { Description = $"An ensemble part not to train ({string.Join(", ", EnsemblePartTrainers.KnownParts)}); repeatable", AllowMultipleArgumentsPerToken = true };
        var als = new AlsCommandOptions();
        var command = new Command(name, description) { snapshots, catalog, days, holdout, playlists, sessionGap, halfLife, noEnsemble, without };
        if (!evaluateOnly)
        {
            command.Add(models);
            command.Add(trees);
            command.Add(codedTrees);
            command.Add(targetRecall);
            command.Add(keep);
            command.Add(noPublish);
        }
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
                    TrackTrees = evaluateOnly ? new BundleForestOptions().TrackTrees : parse.GetValue(trees),
                    ArtistTrees = evaluateOnly ? new BundleForestOptions().ArtistTrees : parse.GetValue(trees),
                    CodedTrees = evaluateOnly ? new BundleForestOptions().CodedTrees : parse.GetValue(codedTrees), Threads = alsOptions.Threads,
                    TargetRecall = evaluateOnly ? new BundleForestOptions().TargetRecall : TargetRecall(parse.GetValue(targetRecall)),
                },
            };
            try
            {
                if (evaluateOnly) options = options with { RetrainOnAll = false };
                var skip = evaluateOnly || parse.GetValue(noPublish);
                var manifest = await RunAsync(options, skip ? null : new BundleStore(parse.GetValue(models)!), parse.GetValue(keep), ct);
                return manifest is null && !skip ? 1 : 0;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return IngestCommand.Cancelled("train cancelled; nothing was published");
            }
        });
        return command;
    }

    /// <summary>Every part's held-out metrics, then each blend's related-items precision beside each part's on the same seeds.</summary>
    private static void PrintEvaluation(TrainingResult result)
    {
        var evaluated = result.Parts.Where(p => p.Evaluation is not null || p.Content.Family == Models.Ensemble.BlendFamily.Name).ToList();
        if (evaluated.Count == 0) return;
        Console.WriteLine("held-out evaluation (the hold-out split; every part and blend on the same one):");
        foreach (var part in evaluated)
        {
            var metrics = part.Evaluation?.Metrics ?? part.Content.Metrics;
            // A blend's metrics hold each part's related precision too: those go on lines of their own.
            var k = part.Content.Family == Models.Ensemble.BlendFamily.Name
                ? Models.ModelMetrics.RelatedK(part.Content.Parameters.Deserialize<Models.Ensemble.BlendParameters>(BundleManifest.Json)?.Space ?? "")
                : 0;
            var ofParts = metrics.Where(m => k > 0 && Models.ModelMetrics.RelatedPrecisionPart(m.Key, k) is not null).ToList();
            Console.WriteLine($"  {part.Content.Name,-14} {string.Join(", ", metrics.Except(ofParts).Select(m => $"{m.Key} {m.Value:G4}"))}");
            foreach (var (key, value) in ofParts)
                Console.WriteLine($"  {"",-14}   {key}: {value:F4} (that part alone)");
        }
    }

    /// <summary><c>--half-life-days</c>, shared with <c>rec eval</c>.</summary>
    public static Option<double> HalfLifeOption() => new("--half-life-days")
    {
        Description = "Weight each play by 0.5^(age in days / this), age from the newest snapshot (or timestamp); 0 = off",
        DefaultValueFactory = _ => 0,
    };

    public static double HalfLife(double days) =>
        days >= 0 && double.IsFinite(days) ? days : throw new ArgumentException($"--half-life-days must be 0 (off) or a positive number of days (got {days}).");

    private static float TargetRecall(float recall) =>
        BundleForestOptions.IsTargetRecall(recall) ? recall : throw new ArgumentException($"--target-recall must be in [0, 1] (got {recall}).");

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
        PrintEvaluation(result);
        if (store is null) return null;
        var manifest = job.Publish(result, store);
        var pruned = store.Prune(keep);
        if (pruned.Count > 0) Console.WriteLine($"prune: removed {string.Join(", ", pruned)}");
        return manifest;
    }
}
