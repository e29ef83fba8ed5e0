using System.Diagnostics;
using System.Globalization;
using RecService.Core.Bundle;
using RecService.Core.Sparse;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;
using RecService.Training.Als;
using RecService.Training.Evaluation;

namespace RecService.Training.Pipeline;

/// <summary>What one training run reads, how it trains and evaluates, and how the forests are built.</summary>
public sealed record TrainingJobOptions
{
    public required string SnapshotsDirectory { get; init; }
    public required string CatalogDirectory { get; init; }
    /// <summary>Only the last N days of snapshots (0 = all).</summary>
    public int WindowDays { get; init; }
    public double MaxBadFraction { get; init; } = 0.01;
    public AlsOptions Tracks { get; init; } = new();
    public AlsOptions Artists { get; init; } = new();
    /// <summary>Share of (user, item) pairs held out for evaluation; 0 skips evaluation.</summary>
    public double HoldoutFraction { get; init; } = 0.2;
    public ulong Seed { get; init; } = 42;
    public int EvaluationK { get; init; } = 10;
    /// <summary>Users sampled for evaluation (0 = all): ranking every item for every user costs users x items.</summary>
    public int EvaluationUsers { get; init; } = 20_000;
    /// <summary>Train the published models on all the data after evaluating on the split (true), or publish the split's models.</summary>
    public bool RetrainOnAll { get; init; } = true;
    public BundleForestOptions Forests { get; init; } = new();
}

/// <summary>A training step worth reporting: a stage starting, or one ALS iteration.</summary>
public readonly record struct TrainingEvent(string Stage, string Message, AlsIterationReport? Iteration = null);

/// <summary>Held-out metrics of a model next to the popularity baseline on the same split.</summary>
public sealed record ModelEvaluation(RankingReport Model, RankingReport Popularity);

public sealed record TrainingResult(
    PlayMatrices Data,
    AlsModel TrackModel,
    AlsModel ArtistModel,
    ModelEvaluation? TrackEvaluation,
    ModelEvaluation? ArtistEvaluation,
    IReadOnlyList<Snapshot> Window,
    IReadOnlyDictionary<string, double> StageSeconds);

/// <summary>
/// One training run: snapshots -> play matrices -> (hold-out split -> ALS -> metrics) -> ALS on all data -> bundle.
/// The bundle is published only through <see cref="Publish"/>, so a caller (the worker) can gate on the metrics first.
/// </summary>
public sealed class TrainingJob(TrainingJobOptions options, Action<TrainingEvent>? progress = null)
{
    public TrainingJobOptions Options { get; } = options;

    public async Task<TrainingResult> RunAsync(CancellationToken ct = default)
    {
        var stages = new Dictionary<string, double>();
        var clock = Stopwatch.StartNew();
        void Done(string stage)
        {
            stages[stage] = clock.Elapsed.TotalSeconds;
            clock.Restart();
        }

        Report("read", $"Reading snapshots from {Options.SnapshotsDirectory}");
        var catalog = TrackCatalog.Load(Options.CatalogDirectory);
        var set = SnapshotSet.Discover(Options.SnapshotsDirectory);
        var window = set.Window(Options.WindowDays);
        var data = await set.ReadAsync(window, catalog, Options.MaxBadFraction, ct);
        Report("read", data.Report.Summary());
        Done("read");

        ModelEvaluation? trackEval = null, artistEval = null;
        AlsModel? trackModel = null, artistModel = null;
        if (Options.HoldoutFraction > 0)
        {
            (trackEval, trackModel) = Evaluate("tracks", data.UserTrack, Options.Tracks, ct);
            (artistEval, artistModel) = Evaluate("artists", data.UserArtist!, Options.Artists, ct);
            Done("evaluate");
        }
        if (Options.RetrainOnAll || trackModel is null)
        {
            trackModel = Train("tracks", data.UserTrack, Options.Tracks, ct);
            artistModel = Train("artists", data.UserArtist!, Options.Artists, ct);
            Done("train");
        }
        return new TrainingResult(data, trackModel, artistModel!, trackEval, artistEval, window, stages);
    }

    private (ModelEvaluation, AlsModel) Evaluate(string name, CsrMatrix all, AlsOptions als, CancellationToken ct)
    {
        var split = HoldoutSplit.Random(all, Options.HoldoutFraction, Options.Seed);
        var model = Train($"{name} (held-out split)", split.Train, als, ct);
        Report("evaluate", $"Evaluating {name} on {split.Test.NonZeros} held-out pairs");
        var k = Options.EvaluationK;
        var evaluation = new ModelEvaluation(
            RankingEvaluator.Evaluate(split, new FactorScorer(model), k, als.Threads, Options.EvaluationUsers, Options.Seed),
            RankingEvaluator.Evaluate(split, new PopularityScorer(split.Train), k, als.Threads, Options.EvaluationUsers, Options.Seed));
        Report("evaluate", $"{name}: precision@{k} {evaluation.Model.Precision:F4} (popularity {evaluation.Popularity.Precision:F4}), " +
                           $"NDCG@{k} {evaluation.Model.Ndcg:F4}, AUC {evaluation.Model.Auc:F4}");
        return (evaluation, model);
    }

    private AlsModel Train(string name, CsrMatrix matrix, AlsOptions als, CancellationToken ct)
    {
        Report("train", $"Training {name}: {matrix.Rows} x {matrix.Columns}, {matrix.NonZeros} non-zeros, {als.Factors} factors, {als.Iterations} iterations");
        return new AlsTrainer(als).Train(matrix, it => progress?.Invoke(new TrainingEvent("train", name, it)), ct);
    }

    private void Report(string stage, string message) => progress?.Invoke(new TrainingEvent(stage, message));

    /// <summary>The manifest entries describing a run: parameters, data sizes, metrics.</summary>
    public BundleManifest Describe(TrainingResult result)
    {
        var manifest = new BundleManifest();
        var inv = CultureInfo.InvariantCulture;
        void Params(string prefix, AlsOptions o)
        {
            manifest.Training[$"{prefix}.factors"] = o.Factors.ToString(inv);
            manifest.Training[$"{prefix}.iterations"] = o.Iterations.ToString(inv);
            manifest.Training[$"{prefix}.regularization"] = o.Regularization.ToString(inv);
            manifest.Training[$"{prefix}.alpha"] = o.Alpha.ToString(inv);
            manifest.Training[$"{prefix}.scaling"] = o.Scaling.ToString();
            manifest.Training[$"{prefix}.epsilon"] = o.LogEpsilon.ToString(inv);
            manifest.Training[$"{prefix}.solver"] = o.Solver.ToString();
        }
        Params("tracks", Options.Tracks);
        Params("artists", Options.Artists);
        manifest.Training["holdout"] = Options.HoldoutFraction.ToString(inv);
        manifest.Training["seed"] = Options.Seed.ToString(inv);
        manifest.Training["window.first"] = result.Window[0].Date.ToString(SnapshotSet.DateFormat, inv);
        manifest.Training["window.last"] = result.Window[^1].Date.ToString(SnapshotSet.DateFormat, inv);
        manifest.Training["forest.trackTrees"] = Options.Forests.TrackTrees.ToString(inv);
        manifest.Training["forest.artistTrees"] = Options.Forests.ArtistTrees.ToString(inv);
        manifest.Training["forest.codedTrees"] = Options.Forests.CodedTrees.ToString(inv);

        var d = result.Data;
        manifest.Data["users"] = d.Users.Count;
        manifest.Data["tracks"] = d.Tracks.Count;
        manifest.Data["artists"] = d.Catalog!.ArtistCount;
        manifest.Data["userTrackPairs"] = d.UserTrack.NonZeros;
        manifest.Data["userArtistPairs"] = d.UserArtist!.NonZeros;
        manifest.Data["rowsRead"] = d.Report.RowsRead;
        manifest.Data["badRows"] = d.Report.BadRows;
        manifest.Data["plays"] = d.Report.PlaysKept;
        manifest.Data["snapshots"] = result.Window.Count;

        void Metrics(string prefix, ModelEvaluation? e)
        {
            if (e is null) return;
            var k = e.Model.K;
            manifest.Metrics[$"{prefix}.precision@{k}"] = e.Model.Precision;
            manifest.Metrics[$"{prefix}.map@{k}"] = e.Model.MeanAveragePrecision;
            manifest.Metrics[$"{prefix}.ndcg@{k}"] = e.Model.Ndcg;
            manifest.Metrics[$"{prefix}.auc"] = e.Model.Auc;
            manifest.Metrics[$"{prefix}.popularity.precision@{k}"] = e.Popularity.Precision;
            manifest.Metrics[$"{prefix}.evaluatedUsers"] = e.Model.Users;
        }
        Metrics("tracks", result.TrackEvaluation);
        Metrics("artists", result.ArtistEvaluation);
        foreach (var (stage, seconds) in result.StageSeconds) manifest.Metrics[$"seconds.{stage}"] = seconds;
        return manifest;
    }

    /// <summary>Builds the bundle content from a run's models and data.</summary>
    public static BundleContent Content(TrainingResult result)
    {
        var catalog = result.Data.Catalog!;
        return new BundleContent
        {
            UserIds = result.Data.Users.Ids,
            TrackIds = catalog.Tracks.Ids,
            ArtistIds = catalog.Artists.Ids,
            UserFactors = result.TrackModel.UserFactors,
            TrackFactors = result.TrackModel.ItemFactors,
            Factors = result.TrackModel.Factors,
            ArtistFactors = result.ArtistModel.ItemFactors,
            ArtistFactorCount = result.ArtistModel.Factors,
            Played = result.Data.UserTrack,
            TrackArtist = catalog.TrackArtists,
            TrackTitles = Enumerable.Range(0, catalog.TrackCount).Select(catalog.TitleOf).ToList(),
            ArtistNames = Enumerable.Range(0, catalog.ArtistCount).Select(catalog.ArtistName).ToList(),
        };
    }

    /// <summary>Writes the bundle and switches CURRENT to it; returns the published manifest.</summary>
    /// <param name="extraTraining">More entries for the manifest's training map (e.g. the worker's snapshot signature).</param>
    public BundleManifest Publish(TrainingResult result, BundleStore store, IReadOnlyDictionary<string, string>? extraTraining = null)
    {
        Report("publish", $"Building forests and publishing to {store.Root}");
        var clock = Stopwatch.StartNew();
        var manifest = Describe(result);
        foreach (var (key, value) in extraTraining ?? new Dictionary<string, string>()) manifest.Training[key] = value;
        var published = store.Publish(manifest, dir => BundleWriter.Write(dir, Content(result), Options.Forests));
        Report("publish", $"Published {published.ModelVersion} in {clock.Elapsed.TotalSeconds:F1} s ({published.Files.Sum(f => f.Bytes) / 1e6:F1} MB)");
        return published;
    }
}
