using RecService.Core.Sampling;
using RecService.Core.Sparse;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RecService.Training.Als;

namespace RecService.Training.Evaluation;

/// <summary>Scores every item for a user; items scored -Inf are never recommended.</summary>
public interface IItemScorer
{
    string Name { get; }
    void Score(int user, Span<float> scores);

    /// <summary>Scores several users: user b's scores go to <c>scores[(b * items)..]</c>. A scorer that can share one
    /// pass over the items among the users overrides it.</summary>
    void Score(ReadOnlySpan<int> users, Span<float> scores)
    {
        var items = scores.Length / Math.Max(1, users.Length);
        for (var b = 0; b < users.Length; b++) Score(users[b], scores.Slice(b * items, items));
    }
}

/// <summary>
/// x_u . y_i for every item, the ALS recommendation score. The item vectors are laid out once in tiles of
/// <see cref="Tile"/> items, factor-major within a tile, so one pass over the tiles scores several users: each factor
/// is one broadcast per user against a vector of the tile's items, where a dot product per item needs a horizontal sum
/// and reads every item vector again for every user.
/// </summary>
public sealed class FactorScorer : IItemScorer
{
    /// <summary>Items per tile: two 256-bit vectors.</summary>
    private const int Tile = 16;
    /// <summary>Users scored together in one pass over the tiles.</summary>
    public const int Users = 4;

    private readonly AlsModel _model;
    // Tile t, factor k, lane j: the item t * Tile + j's factor k (zero past the last item).
    private readonly float[] _tiles;

    public FactorScorer(AlsModel model)
    {
        _model = model;
        var f = model.Factors;
        var tiles = (model.Items + Tile - 1) / Tile;
        _tiles = new float[checked(tiles * f * Tile)];
        for (var i = 0; i < model.Items; i++)
        {
            var row = model.ItemFactors.AsSpan(i * f, f);
            var at = i / Tile * f * Tile + i % Tile;
            for (var k = 0; k < f; k++) _tiles[at + k * Tile] = row[k];
        }
    }

    public string Name => "ALS";

    public void Score(int user, Span<float> scores) => Score([user], scores);

    /// <summary>Every user's scores are summed in factor order by FMA, whichever users it is scored with, so a user's
    /// scores do not depend on the batch.</summary>
    public void Score(ReadOnlySpan<int> users, Span<float> scores)
    {
        var items = _model.Items;
        if (scores.Length < users.Length * items) throw new ArgumentException("One row of scores per user is needed.", nameof(scores));
        var b = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            for (; b + Users <= users.Length; b += Users) ScoreFour(users.Slice(b, Users), scores.Slice(b * items, Users * items));
            for (; b < users.Length; b++) ScoreOne(users[b], scores.Slice(b * items, items));
        }
        else
        {
            var f = _model.Factors;
            for (; b < users.Length; b++)
            {
                ref var x = ref _model.UserFactors[users[b] * f];
                var row = scores.Slice(b * items, items);
                for (var i = 0; i < items; i++) row[i] = VectorKernels.Dot(ref _model.ItemFactors[i * f], ref x, f);
            }
        }
    }

    private void ScoreOne(int user, Span<float> scores)
    {
        var f = _model.Factors;
        var items = _model.Items;
        ref var x = ref _model.UserFactors[user * f];
        ref var tile = ref MemoryMarshal.GetArrayDataReference(_tiles);
        Span<float> last = stackalloc float[Tile];
        for (var first = 0; first < items; first += Tile, tile = ref Unsafe.Add(ref tile, f * Tile))
        {
            var a0 = Vector256<float>.Zero;
            var a1 = Vector256<float>.Zero;
            for (var k = 0; k < f; k++)
            {
                var xk = Vector256.Create(Unsafe.Add(ref x, k));
                a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref tile, (nuint)(k * Tile)), xk, a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref tile, (nuint)(k * Tile + 8)), xk, a1);
            }
            Store(a0, a1, scores, first, items, last);
        }
    }

    private void ScoreFour(ReadOnlySpan<int> users, Span<float> scores)
    {
        var f = _model.Factors;
        var items = _model.Items;
        ref var x0 = ref _model.UserFactors[users[0] * f];
        ref var x1 = ref _model.UserFactors[users[1] * f];
        ref var x2 = ref _model.UserFactors[users[2] * f];
        ref var x3 = ref _model.UserFactors[users[3] * f];
        ref var tile = ref MemoryMarshal.GetArrayDataReference(_tiles);
        Span<float> last = stackalloc float[Tile];
        for (var first = 0; first < items; first += Tile, tile = ref Unsafe.Add(ref tile, f * Tile))
        {
            Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default;
            Vector256<float> a20 = default, a21 = default, a30 = default, a31 = default;
            for (var k = 0; k < f; k++)
            {
                var y0 = Vector256.LoadUnsafe(ref tile, (nuint)(k * Tile));
                var y1 = Vector256.LoadUnsafe(ref tile, (nuint)(k * Tile + 8));
                var v = Vector256.Create(Unsafe.Add(ref x0, k));
                a00 = Vector256.FusedMultiplyAdd(y0, v, a00);
                a01 = Vector256.FusedMultiplyAdd(y1, v, a01);
                v = Vector256.Create(Unsafe.Add(ref x1, k));
                a10 = Vector256.FusedMultiplyAdd(y0, v, a10);
                a11 = Vector256.FusedMultiplyAdd(y1, v, a11);
                v = Vector256.Create(Unsafe.Add(ref x2, k));
                a20 = Vector256.FusedMultiplyAdd(y0, v, a20);
                a21 = Vector256.FusedMultiplyAdd(y1, v, a21);
                v = Vector256.Create(Unsafe.Add(ref x3, k));
                a30 = Vector256.FusedMultiplyAdd(y0, v, a30);
                a31 = Vector256.FusedMultiplyAdd(y1, v, a31);
            }
            Store(a00, a01, scores, first, items, last);
            Store(a10, a11, scores[items..], first, items, last);
            Store(a20, a21, scores[(2 * items)..], first, items, last);
            Store(a30, a31, scores[(3 * items)..], first, items, last);
        }
    }

    /// <summary>One tile's scores into a user's row; the last tile may be partial.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector256<float> low, Vector256<float> high, Span<float> row, int first, int items, Span<float> last)
    {
        if (first + Tile <= items)
        {
            low.StoreUnsafe(ref row[first]);
            high.StoreUnsafe(ref row[first + 8]);
            return;
        }
        low.StoreUnsafe(ref last[0]);
        high.StoreUnsafe(ref last[8]);
        last[..(items - first)].CopyTo(row[first..]);
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
        // Users go to the scorer in fixed batches of consecutive evaluated users, whatever the thread count.
        const int batch = FactorScorer.Users;
        var batches = (users.Length + batch - 1) / batch;
        Parallel.For(0, batches, parallel, () => (Scores: new float[batch * items], Ranked: new int[k], Scratch: new float[items]), (b, _, buffers) =>
        {
            var first = b * batch;
            var block = users.AsSpan(first, Math.Min(batch, users.Length - first));
            scorer.Score(block, buffers.Scores.AsSpan(0, block.Length * items));
            for (var m = 0; m < block.Length; m++)
            {
                var n = first + m;
                var user = block[m];
                var scores = buffers.Scores.AsSpan(m * items, items);
                foreach (var seen in split.Train.RowIndices(user)) scores[seen] = float.NegativeInfinity;
                var relevant = split.Test.RowIndices(user);
                var ranked = buffers.Ranked.AsSpan(0, RankingMetrics.TopK(scores, k, buffers.Ranked));
                results[n * 4] = RankingMetrics.PrecisionAtK(ranked, relevant, k);
                results[n * 4 + 1] = RankingMetrics.AveragePrecisionAtK(ranked, relevant, k);
                results[n * 4 + 2] = RankingMetrics.NdcgAtK(ranked, relevant, k);
                results[n * 4 + 3] = RankingMetrics.Auc(scores, relevant, buffers.Scratch);
            }
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
