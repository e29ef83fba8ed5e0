using System.Diagnostics;
using System.Globalization;
using RecService.Core.Bundle;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;
using RecService.Ingest.Playlists;
using RecService.Models;
using RecService.Training.Als;
using RecService.Training.Ensemble;
using RecService.Training.Word2Vec;
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
    /// <summary>Playlists directory (must exist); null = <c>playlists/</c> beside the snapshots directory (<see cref="ResolvedPlaylistsDirectory"/>), read only if it exists.</summary>
    public string? PlaylistsDirectory { get; init; }
    /// <summary>A timestamped play more than this after the user's previous one starts a new session.</summary>
    public TimeSpan SessionGap { get; init; } = PlayReadOptions.DefaultSessionGap;
    /// <summary>Plays weighted by 0.5^(age in days / this), from the newest snapshot or timestamp; 0 = off.</summary>
    public double RecencyHalfLifeDays { get; init; }

    /// <summary>The playlists directory read: <see cref="PlaylistsDirectory"/>, or <c>playlists/</c> beside the snapshots directory.</summary>
    public string ResolvedPlaylistsDirectory =>
        PlaylistsDirectory ?? Path.Combine(Path.GetDirectoryName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(SnapshotsDirectory))) ?? ".", "playlists");
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
    /// <summary>The ensemble's extra parts (BPR, word2vec, tags) and the blend over them.</summary>
    public EnsembleOptions Ensemble { get; init; } = new();
}

/// <summary>A training step worth reporting: a stage starting, or one ALS iteration.</summary>
public readonly record struct TrainingEvent(string Stage, string Message, AlsIterationReport? Iteration = null);

/// <summary>Held-out ranking metrics of a model next to the popularity baseline on the same split.</summary>
public sealed record ModelEvaluation(RankingReport Model, RankingReport Popularity);

/// <summary>A run's outcome: the data, every trained part (with its evaluation), the snapshot window and stage times.</summary>
public sealed record TrainingResult(
    PlayMatrices Data,
    IReadOnlyList<TrainedPart> Parts,
    IReadOnlyList<Snapshot> Window,
    IReadOnlyDictionary<string, double> StageSeconds)
{
    /// <summary>The part named <paramref name="name"/>; throws when the run has none.</summary>
    public TrainedPart Part(string name) =>
        Parts.FirstOrDefault(p => p.Content.Name == name) ?? throw new KeyNotFoundException($"The run trained no part '{name}'.");

    /// <summary>A part's held-out metric (<see cref="ModelMetrics"/> names), or null when it was not measured.</summary>
    public double? Metric(string part, string metric) =>
        Parts.FirstOrDefault(p => p.Content.Name == part)?.Evaluation?.Metrics is { } m && m.TryGetValue(metric, out var v) ? v : null;
}

/// <summary>
/// One training run: snapshots -> play matrices -> (hold-out split -> train -> metrics, per part) -> train on all data,
/// per part -> bundle. The parts are the <see cref="IPartTrainer"/>s given (ALS tracks and artists by default). The
/// bundle is published only through <see cref="Publish"/>, so a caller (the worker) can gate on the metrics first.
/// </summary>
public sealed class TrainingJob(TrainingJobOptions options, Action<TrainingEvent>? progress = null, IReadOnlyList<IPartTrainer>? parts = null)
{
    public TrainingJobOptions Options { get; } = options;
    private readonly bool _defaultParts = parts is null;

    /// <summary>The part trainers: the given list, or the ALS parts plus (after the read, once it is known what the run
    /// has) the ensemble's parts.</summary>
    public IReadOnlyList<IPartTrainer> PartTrainers { get; private set; } = parts ?? AlsPartTrainer.Defaults(options);

    /// <summary>The artists' tags, when the catalog has them (a missing file means no tag part).</summary>
    private TrainingSignals ReadSignals(PlayMatrices data)
    {
        if (!_defaultParts || !Options.Ensemble.Enabled || data.Catalog is null) return TrainingSignals.None;
        var tagsPath = Path.Combine(Options.CatalogDirectory, ArtistTags.FileName);
        ArtistTags? tags = null;
        if (File.Exists(tagsPath))
        {
            tags = ArtistTags.Load(tagsPath, data.Catalog);
            Report("read", $"{tags.Rows} tag rows on {tags.Applied.Rows} artists ({tags.Tags.Count} tags, {tags.BadRows} bad)");
            foreach (var example in tags.Examples) Report("read", $"bad tag row {example}");
        }
        // Word2vec's corpus: the playlists, then the listening sessions, as one sequence list over catalog tracks.
        var playlists = data.Playlists;
        var sessions = data.Sessions;
        var count = (playlists?.Count ?? 0) + (sessions?.Count ?? 0);
        if (count == 0) return new TrainingSignals(null, 0, tags);
        var offsets = new long[count + 1];
        var tokens = new int[checked((playlists?.Tracks.Length ?? 0) + (sessions?.Tracks.Length ?? 0))];
        var at = 0;
        var n = 0;
        void Add(ReadOnlySpan<int> sequence)
        {
            sequence.CopyTo(tokens.AsSpan(at));
            at += sequence.Length;
            offsets[++n] = at;
        }
        for (var i = 0; i < (playlists?.Count ?? 0); i++) Add(playlists![i]);
        for (var i = 0; i < (sessions?.Count ?? 0); i++) Add(sessions![i]);
        return new TrainingSignals(new TokenSequences(data.Catalog.TrackCount, offsets, tokens), playlists?.Count ?? 0, tags);
    }

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
        var reading = new PlayReadOptions { MaxBadFraction = Options.MaxBadFraction, SessionGap = Options.SessionGap, RecencyHalfLifeDays = Options.RecencyHalfLifeDays };
        var data = await set.ReadAsync(window, catalog, reading, ct);
        Report("read", data.Report.Summary());
        foreach (var file in data.Report.FilesWithBadRows()) Report("read", $"bad rows in {file}");
        foreach (var warning in data.Report.Warnings) Report("read", $"warning: {warning}");
        if (data.Sessions is { } sessions) Report("read", $"{sessions.Count} sessions of {sessions.Tracks.Length} timestamped plays (gap {sessions.Gap.TotalMinutes:G} min)");
        if (Options.RecencyHalfLifeDays > 0) Report("read", $"plays weighted by recency, half-life {Options.RecencyHalfLifeDays:G} days");
        ThrowIfNothingToTrain(data, window);
        var playlistsDirectory = Options.ResolvedPlaylistsDirectory;
        // One named on purpose must be there; the default one beside the snapshots is optional.
        if (Options.PlaylistsDirectory is not null && !Directory.Exists(playlistsDirectory))
            throw new DirectoryNotFoundException($"Playlists directory not found: {playlistsDirectory}");
        if (Directory.Exists(playlistsDirectory))
        {
            var playlists = await PlaylistSet.ReadAsync(playlistsDirectory, catalog, Options.MaxBadFraction, ct);
            Report("read", $"playlists from {playlistsDirectory}: {playlists.Summary()}");
            foreach (var file in playlists.Report.FilesWithBadRows()) Report("read", $"bad rows in {file}");
            foreach (var warning in playlists.Report.Warnings) Report("read", $"warning: {warning}");
            data = data with { Playlists = playlists };
        }
        Done("read");

        var signals = ReadSignals(data);
        var input = new PartTrainingInput(data, Options, progress) { Signals = signals };
        PartTrainers = [.. PartTrainers, .. _defaultParts ? EnsemblePartTrainers.For(Options, signals) : []];
        var evaluations = new PartEvaluation?[PartTrainers.Count];
        if (Options.HoldoutFraction > 0)
        {
            for (var i = 0; i < PartTrainers.Count; i++) evaluations[i] = PartTrainers[i].Evaluate(input, ct);
            Done("evaluate");
        }
        // The blend is fitted on the split's parts and the pairs they held out, before the splits are let go.
        IReadOnlyList<BlendResult> blends = [];
        if (_defaultParts && Options.Ensemble.Enabled)
        {
            if (Options.HoldoutFraction > 0)
            {
                blends = BlendStage.Fit(input, evaluations.Select(e => e!.SplitModel).ToList(), ct);
                Done("blend");
            }
            else Report("blend", "No hold-out split (holdout 0): no blend is fitted, and replicas answer from the ALS parts alone");
        }
        input.ReleaseHoldouts();
        var contents = evaluations.Select(e => e?.SplitModel).ToArray();
        if (Options.RetrainOnAll || Options.HoldoutFraction <= 0)
        {
            for (var i = 0; i < PartTrainers.Count; i++)
                if (contents[i] is null || !PartTrainers[i].PublishesSplitModel) contents[i] = PartTrainers[i].Train(input, ct);
            Done("train");
        }
        var trained = PartTrainers.Select((t, i) => new TrainedPart(contents[i]!, evaluations[i])).ToList();
        foreach (var (trainer, part) in PartTrainers.Zip(trained))
            if (part.Content.Name != trainer.PartName) throw new InvalidOperationException($"Part trainer {trainer.PartName} made a part named {part.Content.Name}.");
        trained.AddRange(blends.Select(b => new TrainedPart(b.Content, null)));
        return new TrainingResult(data, trained, window, stages);
    }

    private void Report(string stage, string message) => progress?.Invoke(new TrainingEvent(stage, message));

    /// <summary>A window with no plays (empty files, all-zero plays, no track in the catalog) would train and publish a
    /// model of nobody, and replicas would swap to it: refused (the worker counts a failed run and the current model keeps
    /// serving; <c>rec train</c> prints the message and exits non-zero).</summary>
    private static void ThrowIfNothingToTrain(PlayMatrices data, IReadOnlyList<Snapshot> window)
    {
        if (data.Users.Count > 0 && data.Tracks.Count > 0 && data.UserTrack.NonZeros > 0) return;
        var span = window.Count == 0 ? "no snapshots" : $"snapshots {window[0].Date:yyyy-MM-dd} .. {window[^1].Date:yyyy-MM-dd}";
        throw new InvalidDataException(
            $"The window has no plays to train on ({span}: {data.Report.Summary()}); refusing to train or publish an empty model.");
    }

    /// <summary>The manifest's run entries: run facts, data sizes, stage times. Its parts (typed parameters, metrics) are
    /// listed from the content when the bundle is published (<see cref="BundleStore.Publish(BundleManifest, BundleContent, BundleForestOptions?, DateTimeOffset?)"/>).</summary>
    private BundleManifest Describe(TrainingResult result)
    {
        var manifest = new BundleManifest();
        var inv = CultureInfo.InvariantCulture;
        foreach (var trainer in PartTrainers)
            foreach (var (key, value) in trainer.Facts) manifest.Training[$"{trainer.PartName}.{key}"] = value;
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

        foreach (var (stage, seconds) in result.StageSeconds) manifest.Metrics[$"seconds.{stage}"] = seconds;
        return manifest;
    }

    /// <summary>Builds the bundle content from a run's parts (each with its held-out metrics) and data.</summary>
    public static BundleContent Content(TrainingResult result) => Content(result.Data, PartsOf(result));

    /// <summary>A bundle of <paramref name="parts"/> over the run's catalog and plays (the blend's scratch bundle too).</summary>
    public static BundleContent Content(PlayMatrices data, IReadOnlyList<PartContent> parts)
    {
        var catalog = data.Catalog ?? throw new InvalidOperationException("A bundle needs the catalog.");
        return new BundleContent
        {
            UserIds = data.Users.Ids,
            TrackIds = catalog.Tracks.Ids,
            ArtistIds = catalog.Artists.Ids,
            Played = data.UserTrack,
            TrackArtist = catalog.TrackArtists,
            TrackTitles = Enumerable.Range(0, catalog.TrackCount).Select(catalog.TitleOf).ToList(),
            ArtistNames = Enumerable.Range(0, catalog.ArtistCount).Select(catalog.ArtistName).ToList(),
            Parts = parts,
        };
    }

    /// <summary>Each part's content with its held-out metrics.</summary>
    private static List<PartContent> PartsOf(TrainingResult result) =>
        result.Parts.Select(p => p.Evaluation is { } e ? p.Content with { Metrics = e.Metrics } : p.Content).ToList();

    /// <summary>Writes the bundle and switches CURRENT to it; returns the published manifest.</summary>
    /// <param name="extraTraining">More entries for the manifest's training map (e.g. the worker's snapshot signature).</param>
    public BundleManifest Publish(TrainingResult result, BundleStore store, IReadOnlyDictionary<string, string>? extraTraining = null)
    {
        Report("publish", $"Building forests and publishing to {store.Root}");
        var clock = Stopwatch.StartNew();
        ThrowIfNothingToTrain(result.Data, result.Window);
        var manifest = Describe(result);
        foreach (var (key, value) in extraTraining ?? new Dictionary<string, string>()) manifest.Training[key] = value;
        var published = store.Publish(manifest, Content(result), Options.Forests);
        Report("publish", $"Published {published.ModelVersion} in {clock.Elapsed.TotalSeconds:F1} s ({published.Files.Sum(f => f.Bytes) / 1e6:F1} MB)");
        return published;
    }
}
