using RecService.Core.Bundle;
using RecService.Core.Sparse;
using RecService.Ingest.Logs;
using RecService.Models;
using RecService.Models.Bpr;
using RecService.Models.Cooccurrence;
using RecService.Training.Cooccurrence;
using RecService.Models.Ensemble;
using RecService.Models.Similarity;
using RecService.Models.Tags;
using RecService.Models.Word2Vec;
using RecService.Training.Bpr;
using RecService.Training.Evaluation;
using RecService.Training.Tags;
using RecService.Training.Word2Vec;

namespace RecService.Training.Pipeline;

/// <summary>The ensemble's settings: which extra parts to train and how, and the blend.</summary>
public sealed record EnsembleOptions
{
    /// <summary>Train the extra parts and the blend (false: ALS only, as before the ensemble).</summary>
    public bool Enabled { get; init; } = true;
    /// <summary>Ensemble parts not to train (e.g. "tags-artists", to measure the blend without it).</summary>
    public IReadOnlySet<string> Without { get; init; } = new HashSet<string>();
    public BprOptions Bpr { get; init; } = new() { Epochs = 4 };
    /// <summary>SGD steps a BPR part takes at least: a small matrix gets more passes (up to <see cref="BprMaxEpochs"/>), since
    /// a pass over it is only a few hundred thousand steps.</summary>
    public long BprMinSteps { get; init; } = 8_000_000;
    public int BprMaxEpochs { get; init; } = 200;
    /// <summary>Users sampled for a BPR part's held-out precision (a figure beside ALS's; the blend judges the part).</summary>
    public int BprEvaluationUsers { get; init; } = 3000;
    public Word2VecOptions Word2Vec { get; init; } = new();
    /// <summary>Corpus tokens a word2vec part trains on at least (passes are raised for a small corpus, up to <see cref="Word2VecMaxEpochs"/>).</summary>
    public long Word2VecMinTokens { get; init; } = 3_000_000;
    public int Word2VecMaxEpochs { get; init; } = 40;
    public TagParameters Tags { get; init; } = TagParameters.Defaults;
    public CooccurrenceParameters Cooccurrence { get; init; } = CooccurrenceParameters.Defaults;
    /// <summary>Seeds per space the blend is fitted and measured on (half each).</summary>
    public int BlendSeeds { get; init; } = 2000;
    /// <summary>Penalty per seed on the standardised weights: measured best at 1 (ENSEMBLE.md).</summary>
    public double BlendL2 { get; init; } = 1;
    public int Threads { get; init; }
}

/// <summary>The ensemble's part trainers for a run, given what it read (<see cref="TrainingSignals"/>).</summary>
public static class EnsemblePartTrainers
{
    public static IReadOnlyList<string> KnownParts { get; } = [EnsembleParts.BprTracks, EnsembleParts.BprArtists, EnsembleParts.Word2VecTracks, EnsembleParts.Word2VecArtists, EnsembleParts.TagArtists, EnsembleParts.CooccurrenceArtists];

    public static IReadOnlyList<IPartTrainer> For(TrainingJobOptions job, TrainingSignals signals)
    {
        var e = job.Ensemble;
        if (!e.Enabled) return [];
        var bpr = e.Bpr with { Seed = job.Seed, Threads = e.Threads };
        var parts = new List<IPartTrainer>
        {
            new BprPartTrainer(EnsembleParts.BprTracks, IdSpaces.Tracks, d => d.UserTrack, bpr, e),
            new BprPartTrainer(EnsembleParts.BprArtists, IdSpaces.Artists, d => d.UserArtist!, bpr, e),
            new CooccurrencePartTrainer(EnsembleParts.CooccurrenceArtists, IdSpaces.Artists, d => d.UserArtist!, e.Cooccurrence, e.Threads),
        };
        if (signals.HasSequences)
        {
            parts.Add(new Word2VecPartTrainer(EnsembleParts.Word2VecTracks, IdSpaces.Tracks, e));
            parts.Add(new Word2VecPartTrainer(EnsembleParts.Word2VecArtists, IdSpaces.Artists, e));
        }
        if (signals.HasTags) parts.Add(new TagPartTrainer(EnsembleParts.TagArtists, e.Tags, e.Threads));
        foreach (var name in e.Without)
            if (!KnownParts.Contains(name)) throw new ArgumentException($"No ensemble part is named '{name}' (they are: {string.Join(", ", KnownParts)}).");
        return parts.Where(p => !e.Without.Contains(p.PartName)).ToList();
    }
}

/// <summary>BPR over users x tracks (or artists), on the same hold-out split as the ALS part of that space; published as item
/// vectors (the bias column dropped) with a cosine forest.</summary>
public sealed class BprPartTrainer(string name, string space, Func<PlayMatrices, CsrMatrix> interactions, BprOptions options, EnsembleOptions ensemble) : IPartTrainer
{
    public string PartName => name;
    public bool PublishesSplitModel => true;

    // Everything that defines the part is in its parameters.
    public IReadOnlyDictionary<string, string> Facts { get; } = new Dictionary<string, string>();


    public PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct)
    {
        var job = input.Options;
        var split = input.Holdout(interactions(input.Data));
        var model = Fit($"{name} (held-out split)", split.Train, input, ct);
        var k = job.EvaluationK;
        // A sample of users is enough for a figure shown beside the ALS part's: the part is judged by the blend's related measure.
        var users = job.EvaluationUsers > 0 ? Math.Min(job.EvaluationUsers, ensemble.BprEvaluationUsers) : ensemble.BprEvaluationUsers;
        var report = RankingEvaluator.Evaluate(split, new FactorScorer(model.AsFactorModel()), k, options.Threads, users, job.Seed);
        input.Report("evaluate", $"{name}: precision@{k} {report.Precision:F4}, NDCG@{k} {report.Ndcg:F4}, AUC {report.Auc:F4}");
        var metrics = new Dictionary<string, double>
        {
            [ModelMetrics.PrecisionAt(k)] = report.Precision,
            [ModelMetrics.NdcgAt(k)] = report.Ndcg,
            [ModelMetrics.Auc] = report.Auc,
        };
        return new PartEvaluation(metrics, Content(model));
    }

    public PartContent Train(PartTrainingInput input, CancellationToken ct) => Content(Fit(name, interactions(input.Data), input, ct));

    private BprParameters? _fitted;

    private BprModel Fit(string label, CsrMatrix plays, PartTrainingInput input, CancellationToken ct)
    {
        var epochs = plays.NonZeros == 0 ? options.Epochs
            : (int)Math.Clamp((ensemble.BprMinSteps + plays.NonZeros - 1) / plays.NonZeros, options.Epochs, Math.Max(options.Epochs, ensemble.BprMaxEpochs));
        var o = options with { Epochs = epochs };
        _fitted = new(o.Factors, o.Epochs, o.LearningRate, o.Regularization);
        input.Report("train", $"Training {label}: BPR, {plays.Rows} x {plays.Columns}, {plays.NonZeros} non-zeros, {o.Factors} factors, {epochs} epochs");
        var model = new BprTrainer(o).Fit(plays, ct);
        input.Report("train", $"{label}: {model.Seconds:F1} s");
        return model;
    }

    private PartContent Content(BprModel model)
    {
        // Rows end in the item bias (BprModel): similarity is between the learned directions only.
        var f = model.Factors - 1;
        var vectors = new float[checked(model.Items * f)];
        for (var i = 0; i < model.Items; i++) model.ItemFactors.AsSpan(i * model.Factors, f).CopyTo(vectors.AsSpan(i * f, f));
        return VectorFamily.Content(name, BprFamily.Name, space, vectors, model.Items, f, _fitted!);
    }
}

/// <summary>Word2vec over the run's sequences (playlists and sessions), of tracks or of their artists; evaluated on the
/// sequences left after holding some out (the blend's evidence).</summary>
public sealed class Word2VecPartTrainer(string name, string space, EnsembleOptions ensemble) : IPartTrainer
{
    public string PartName => name;
    public bool PublishesSplitModel => true;

    public IReadOnlyDictionary<string, string> Facts { get; } = new Dictionary<string, string>();

    public PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct)
    {
        var (train, _) = input.SequenceHoldout();
        var content = Fit($"{name} (held-out split)", train, input, ct, out var stats);
        return new PartEvaluation(new Dictionary<string, double> { ["tokensPerSecondPerThread"] = stats.TokensPerSecondPerThread, ["vocabularyCovered"] = stats.Covered }, content);
    }

    public PartContent Train(PartTrainingInput input, CancellationToken ct) => Fit(name, input.Signals.Tracks!, input, ct, out _);

    private PartContent Fit(string label, TokenSequences tracks, PartTrainingInput input, CancellationToken ct, out (double TokensPerSecondPerThread, double Covered) stats)
    {
        var catalog = input.Data.Catalog ?? throw new InvalidOperationException("Word2vec needs the catalog.");
        var corpus = space == IdSpaces.Artists ? TrainingSignals.ToArtists(tracks, catalog) : tracks;
        var o = ensemble.Word2Vec;
        // A small corpus gets more passes, so rare items (the long tail this part is for) get enough updates.
        var epochs = corpus.TokenCount == 0 ? o.Epochs
            : (int)Math.Clamp((ensemble.Word2VecMinTokens + corpus.TokenCount - 1) / corpus.TokenCount, o.Epochs, Math.Max(o.Epochs, ensemble.Word2VecMaxEpochs));
        var options = o with { Epochs = epochs, Seed = input.Options.Seed, Threads = ensemble.Threads };
        input.Report("train", $"Training {label}: word2vec over {corpus.Count} sequences, {corpus.TokenCount} tokens, {corpus.Vocabulary} {space}, {epochs} epochs");
        var model = new Word2VecTrainer(options).Fit(corpus, ct);
        var covered = model.Counts.Count(c => c > 0) / (double)Math.Max(1, corpus.Vocabulary);
        input.Report("train", $"{label}: {model.Stats.Seconds:F1} s, {model.Stats.TokensPerSecondPerThread / 1e3:F0}k tokens/s per thread, {covered:P1} of {space} covered");
        stats = (model.Stats.TokensPerSecondPerThread, covered);
        var parameters = new Word2VecParameters(options.Dimensions, options.Window, options.Negatives, epochs, options.Subsample, input.Signals.Sources);
        return VectorFamily.Content(name, Word2VecFamily.Name, space, model.Vectors, corpus.Vocabulary, options.Dimensions, parameters);
    }
}

/// <summary>The artists' tags as TF-IDF rows and their exact nearest artists. Tags are not user data: the split and the
/// final part are the same.</summary>
public sealed class TagPartTrainer(string name, TagParameters parameters, int threads) : IPartTrainer
{
    public string PartName => name;
    public bool PublishesSplitModel => true;

    public IReadOnlyDictionary<string, string> Facts { get; } = new Dictionary<string, string>();

    public PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct)
    {
        var content = Train(input, ct);
        var tagged = content.Sparse[TagFamily.Weights];
        var covered = Enumerable.Range(0, tagged.Rows).Count(r => tagged.RowLength(r) > 0) / (double)Math.Max(1, tagged.Rows);
        return new PartEvaluation(new Dictionary<string, double> { ["artistsTagged"] = covered }, content);
    }

    public PartContent Train(PartTrainingInput input, CancellationToken ct)
    {
        var tags = input.Signals.Tags ?? throw new InvalidOperationException("The tag part needs the artists' tags.");
        var weights = TagSimilarity.Weigh(tags.Applied);
        var near = TagSimilarity.Nearest(weights, parameters.Neighbours, parameters.MaxPosting, threads);
        input.Report("train", $"{name}: {tags.Tags.Count} tags on {weights.Rows} artists, {near.NonZeros} neighbour pairs");
        return new PartContent
        {
            Name = name,
            Family = TagFamily.Name,
            Items = IdSpaces.Artists,
            Sparse = new Dictionary<string, CsrMatrix> { [TagFamily.Weights] = weights, [TagFamily.Neighbours] = near },
            Parameters = PartContent.ParametersOf(parameters),
        };
    }
}

/// <summary>Item-based co-listening over users x items (<see cref="CooccurrenceFamily"/>), on the hold-out split's train
/// pairs (the published model is the split's, like the other ensemble parts).</summary>
public sealed class CooccurrencePartTrainer(string name, string space, Func<PlayMatrices, CsrMatrix> interactions, CooccurrenceParameters parameters, int threads) : IPartTrainer
{
    public string PartName => name;
    public bool PublishesSplitModel => true;

    public IReadOnlyDictionary<string, string> Facts { get; } = new Dictionary<string, string>();

    public PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct)
    {
        var split = input.Holdout(interactions(input.Data));
        return new PartEvaluation(new Dictionary<string, double>(), Fit(split.Train, input, ct));
    }

    public PartContent Train(PartTrainingInput input, CancellationToken ct) => Fit(interactions(input.Data), input, ct);

    private PartContent Fit(CsrMatrix plays, PartTrainingInput input, CancellationToken ct)
    {
        var near = CooccurrenceNeighbours.Compute(plays, parameters.Neighbours, parameters.Shrinkage, threads: threads, ct: ct);
        input.Report("train", $"{name}: co-listening neighbours of {near.Rows} {space}, {near.NonZeros} pairs");
        return new PartContent
        {
            Name = name,
            Family = CooccurrenceFamily.Name,
            Items = space,
            Sparse = new Dictionary<string, CsrMatrix> { [CooccurrenceFamily.Neighbours] = near },
            Parameters = PartContent.ParametersOf(parameters),
        };
    }
}
