using System.Globalization;
using RecService.Core.Bundle;
using RecService.Core.Sparse;
using RecService.Core.Vectors;
using RecService.Ingest.Logs;
using RecService.Models;
using RecService.Models.Als;
using RecService.Training.Als;
using RecService.Training.Evaluation;

namespace RecService.Training.Pipeline;

/// <summary>
/// An implicit-ALS part: trains <see cref="AlsTrainer"/> on one interaction matrix of the run (users x items), evaluates it
/// on a hold-out split against popularity, and hands the factors to <see cref="AlsFamily.Content"/>.
/// </summary>
/// <param name="keepUserFactors">Publish the user factors (and Y^T Y for fold-in), or only the item factors.</param>
public sealed class AlsPartTrainer(string name, string items, Func<PlayMatrices, CsrMatrix> interactions, AlsOptions options,
    bool keepUserFactors, IReadOnlyList<Metric> forests) : IPartTrainer
{
    public string PartName => name;
    public AlsOptions Options => options;

    public IReadOnlyDictionary<string, string> Facts { get; } = new Dictionary<string, string>
    {
        ["iterations"] = options.Iterations.ToString(CultureInfo.InvariantCulture),
        ["solver"] = options.Solver.ToString(),
    };

    /// <summary>The default parts: tracks (users x tracks, served for recommendations and similar tracks) and artists.</summary>
    public static IReadOnlyList<IPartTrainer> Defaults(TrainingJobOptions job) =>
    [
        new AlsPartTrainer(AlsParts.TracksPart, IdSpaces.Tracks, d => d.UserTrack, job.Tracks, keepUserFactors: true, [Metric.Dot, Metric.Cosine]),
        new AlsPartTrainer(AlsParts.ArtistsPart, IdSpaces.Artists, d => d.UserArtist!, job.Artists, keepUserFactors: false, [Metric.Cosine]),
    ];

    public PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct)
    {
        var job = input.Options;
        var split = input.Holdout(interactions(input.Data));
        var model = Fit($"{name} (held-out split)", split.Train, input, ct);
        input.Report("evaluate", $"Evaluating {name} on {split.Test.NonZeros} held-out pairs");
        var k = job.EvaluationK;
        var evaluation = new ModelEvaluation(
            RankingEvaluator.Evaluate(split, new FactorScorer(model), k, options.Threads, job.EvaluationUsers, job.Seed),
            RankingEvaluator.Evaluate(split, new PopularityScorer(split.Train), k, options.Threads, job.EvaluationUsers, job.Seed));
        input.Report("evaluate", $"{name}: precision@{k} {evaluation.Model.Precision:F4} (popularity {evaluation.Popularity.Precision:F4}), " +
                                 $"NDCG@{k} {evaluation.Model.Ndcg:F4}, AUC {evaluation.Model.Auc:F4}");
        var metrics = new Dictionary<string, double>
        {
            [ModelMetrics.PrecisionAt(k)] = evaluation.Model.Precision,
            [ModelMetrics.MeanAveragePrecisionAt(k)] = evaluation.Model.MeanAveragePrecision,
            [ModelMetrics.NdcgAt(k)] = evaluation.Model.Ndcg,
            [ModelMetrics.Auc] = evaluation.Model.Auc,
            [ModelMetrics.PopularityPrecisionAt(k)] = evaluation.Popularity.Precision,
            [ModelMetrics.EvaluatedUsers] = evaluation.Model.Users,
        };
        return new PartEvaluation(metrics, Content(model), evaluation);
    }

    public PartContent Train(PartTrainingInput input, CancellationToken ct) => Content(Fit(name, interactions(input.Data), input, ct));

    private AlsModel Fit(string label, CsrMatrix matrix, PartTrainingInput input, CancellationToken ct)
    {
        input.Report("train", $"Training {label}: {matrix.Rows} x {matrix.Columns}, {matrix.NonZeros} non-zeros, {options.Factors} factors, {options.Iterations} iterations");
        return new AlsTrainer(options).Train(matrix, it => input.Progress?.Invoke(new TrainingEvent("train", label, it)), ct);
    }

    private PartContent Content(AlsModel model) =>
        AlsFamily.Content(name, IdSpaces.Users, items, options.Parameters, model.ItemFactors, model.Items,
            keepUserFactors ? model.UserFactors : null, model.Users, forests);
}
