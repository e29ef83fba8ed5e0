using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Training.Als;

namespace RecService.Training.Evaluation;

/// <summary>Scores every item for a user; items scored -Inf are never recommended.</summary>
public interface IItemScorer
{
    string Name { get; }
    void Score(int user, Span<float> scores);
}

/// <summary>x_u . y_i for every item, the ALS recommendation score.</summary>
public sealed class FactorScorer(AlsModel model) : IItemScorer
{
    public string Name => "ALS";

    public void Score(int user, Span<float> scores)
    {
        var f = model.Factors;
        ref var x = ref model.UserFactors[user * f];
        var items = model.ItemFactors;
        for (var i = 0; i < scores.Length; i++) scores[i] = VectorKernels.Dot(ref items[i * f], ref x, f);
    }
}

/// <summary>The baseline every model must beat: items ranked by how many train users played them.</summary>
public sealed class PopularityScorer : IItemScorer
{
    private readonly float[] _popularity;

    public PopularityScorer(CsrMatrix train)
    {
        _popularity = new float[train.Columns];
        foreach (var c in train.ColumnIndices) _popularity[c]++;
    }

    public string Name => "popularity";

    public void Score(int user, Span<float> scores) => _popularity.CopyTo(scores);
}

/// <summary>Mean metrics over the users that have at least one held-out item.</summary>
public sealed record RankingReport(string Model, int K, int Users, double Precision, double MeanAveragePrecision, double Ndcg, double Auc);

/// <summary>
/// Offline evaluation: for each user with test items, ranks all items the user has not played in train and compares
/// the top k with the held-out items. Per-user results land in a per-user slot and are summed in user order, so the
/// report does not depend on the thread count.
/// </summary>
public static class RankingEvaluator
{
    public static RankingReport Evaluate(Holdout split, IItemScorer scorer, int k = 10, int threads = 0, int maxUsers = 0, ulong seed = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var users = EvaluatedUsers(split.Test, maxUsers, seed);
        var items = split.Train.Columns;
        var results = new double[users.Length * 4];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        Parallel.For(0, users.Length, parallel, () => (Scores: new float[items], Ranked: new int[k], Scratch: new float[items]), (n, _, buffers) =>
        {
            var user = users[n];
            var scores = buffers.Scores.AsSpan();
            scorer.Score(user, scores);
            foreach (var seen in split.Train.RowIndices(user)) scores[seen] = float.NegativeInfinity;
            var relevant = split.Test.RowIndices(user);
            var ranked = buffers.Ranked.AsSpan(0, RankingMetrics.TopK(scores, k, buffers.Ranked));
            results[n * 4] = RankingMetrics.PrecisionAtK(ranked, relevant, k);
            results[n * 4 + 1] = RankingMetrics.AveragePrecisionAtK(ranked, relevant, k);
            results[n * 4 + 2] = RankingMetrics.NdcgAtK(ranked, relevant, k);
            results[n * 4 + 3] = RankingMetrics.Auc(scores, relevant, buffers.Scratch);
            return buffers;
        }, static _ => { });

        var sums = new double[4];
        for (var n = 0; n < users.Length; n++)
            for (var m = 0; m < 4; m++) sums[m] += results[n * 4 + m];
        var count = Math.Max(1, users.Length);
        return new RankingReport(scorer.Name, k, users.Length, sums[0] / count, sums[1] / count, sums[2] / count, sums[3] / count);
    }

    /// <summary>Users with test items; when more than <paramref name="maxUsers"/>, a seeded sample of them (ascending).</summary>
    internal static int[] EvaluatedUsers(CsrMatrix test, int maxUsers, ulong seed)
    {
        var users = Enumerable.Range(0, test.Rows).Where(u => test.RowLength(u) > 0).ToArray();
        if (maxUsers <= 0 || users.Length <= maxUsers) return users;
        var salt = SplitMix64.Mix(seed);
        return [.. users.OrderBy(u => SplitMix64.Mix(salt ^ (ulong)u)).Take(maxUsers).Order()];
    }
}
