using System.Runtime.InteropServices;
using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>What <see cref="ForestTuning.Tune"/> measured and wrote into a forest's header.</summary>
/// <param name="SearchK">The search size stored as the index's default (per 10 results).</param>
/// <param name="StopSlack">The early-stop slack stored with it (0 = off).</param>
/// <param name="Recall">Recall@10 at that setting on the tuning queries.</param>
/// <param name="Queries">How many queries were measured.</param>
public readonly record struct ForestTuningResult(int SearchK, float StopSlack, float Recall, int Queries);

/// <summary>
/// Measures a built forest on the queries it will serve (a part's user vectors for the dot forest, its own items for a
/// cosine one) against exact search and stores, in the header, the smallest search size whose recall@10 reaches the
/// target. A fixed default suits one spectrum and not another: on trained factors, whose spectrum is flat and whose
/// norms have a long tail, the dot metric's fixed default found about nine of the true ten. The early stop is kept
/// unless it caps recall below the target; a target no size short of a full scan reaches leaves the fixed default.
/// </summary>
public static class ForestTuning
{
    /// <summary>Results per query the stored search size is measured for (the serving side scales it for longer lists).</summary>
    public const int K = 10;
    /// <summary>Tuning queries at most: enough that recall is known to about +-0.005 at 0.95.</summary>
    public const int MaxQueries = 1000;
    private const int FirstSearchK = 250;
    private const double LadderStep = 1.5;
    /// <summary>Halvings between the last rung short of the target and the first past it: within about 3% of the smallest size.</summary>
    private const int BisectRounds = 4;
    /// <summary>The ladder stops at this share of the catalog (1 / n): past it a forest is a slow scan, no index.</summary>
    private const int MaxScannedShare = 4;

    /// <param name="minimumSearchK">The size the search never goes below; -1, the index's fixed default, keeps a forest that
    /// beats the target there as exact as before.</param>
    /// <param name="queriesAreItems">The queries are the indexed items themselves (similar items): each is searched by
    /// id, itself left out, as a replica asks.</param>
    public static ForestTuningResult Tune(string path, float[] items, int rows, int cols, ReadOnlySpan<float> queries, int queryCount,
        float targetRecall, int threads = 0, int minimumSearchK = -1, bool queriesAreItems = false)
    {
        if (!(targetRecall is > 0 and <= 1)) throw new ArgumentOutOfRangeException(nameof(targetRecall), targetRecall, "Target recall must be in (0, 1].");
        // Evenly spaced queries, zero vectors left out: they rank nothing (a part's users without plays).
        var picked = new List<int>();
        var step = Math.Max(1, queryCount / MaxQueries);
        for (var q = 0; q < queryCount && picked.Count < MaxQueries; q += step)
            if (!queries.Slice(q * cols, cols).ContainsAnyExcept(0f)) continue;
            else picked.Add(q);
        var sample = new float[picked.Count * cols];
        for (var i = 0; i < picked.Count; i++) queries.Slice(picked[i] * cols, cols).CopyTo(sample.AsSpan(i * cols));
        var n = picked.Count;
        if (n == 0) return new ForestTuningResult(0, 0, 0, 0);

        var handle = GCHandle.Alloc(items, GCHandleType.Pinned);
        ForestTuningResult result;
        try
        {
            unsafe
            {
                using var index = ForestIndex.Open(path, new ExternalVectors((float*)handle.AddrOfPinnedObject(), rows, cols));
                var k = Math.Min(K, rows - (queriesAreItems ? 1 : 0));
                var (truthIds, kth) = TrueNearest(items, rows, cols, index.Metric, sample, n, k, queriesAreItems ? picked : null, threads);
                var query = new Queries(sample, n, k, truthIds, kth, queriesAreItems ? [.. picked] : null);
                var fixedDefault = index.DefaultOptions;
                var minimum = minimumSearchK < 0 ? fixedDefault.SearchK : minimumSearchK;
                // With the early stop first; if it caps recall below the target short of a full scan, without it; if
                // neither gets there, the fixed default stays (its recall recorded).
                result = Climb(index, query, fixedDefault.StopSlack, targetRecall, minimum, threads)
                    ?? (fixedDefault.StopSlack > 0 ? Climb(index, query, 0, targetRecall, minimum, threads) : null)
                    ?? new ForestTuningResult(Math.Max(minimum, fixedDefault.SearchK), fixedDefault.StopSlack,
                        Recall(index, query, new ForestSearchOptions(Math.Max(minimum, fixedDefault.SearchK), fixedDefault.StopSlack), threads), n);
            }
        }
        finally
        {
            handle.Free();
        }
        WriteHeader(path, result);
        return result;
    }

    /// <summary>The tuning queries with their true top k and its k-th score (item queries: their ids, each left out of
    /// its own answer).</summary>
    private sealed record Queries(float[] Vectors, int Count, int K, int[] TruthIds, float[] KthScores, int[]? ItemIds);

    /// <summary>Exact top k per query (for item queries the top k + 1 with the item itself dropped) and the k-th score, by
    /// the packed inner-product kernel (cosine: over unit copies of the items and queries). At 1M items the plain exact
    /// scan made tuning take as long as building the forests.</summary>
    private static (int[] Ids, float[] Kth) TrueNearest(float[] items, int rows, int cols, Metric metric, float[] sample, int n, int k, List<int>? self, int threads)
    {
        var take = self is null ? k : k + 1;
        var ids = new int[n * take];
        var scores = new float[n * take];
        if (metric == Metric.Cosine)
        {
            items = UnitRows(items, rows, cols);
            sample = UnitRows(sample, n, cols);
        }
        var exact = new PackedDotSearch(items, rows, cols);
        var groups = (n + PackedDotSearch.GroupQueries - 1) / PackedDotSearch.GroupQueries;
        var found = new int[n];
        Parallel.For(0, groups, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount }, g =>
        {
            var first = g * PackedDotSearch.GroupQueries;
            var count = Math.Min(PackedDotSearch.GroupQueries, n - first);
            exact.Search(sample.AsSpan(first * cols, count * cols), count, take, ids.AsSpan(first * take, count * take),
                scores.AsSpan(first * take, count * take), found.AsSpan(first, count));
        });
        var truth = new int[n * k];
        var kth = new float[n];
        for (var q = 0; q < n; q++)
        {
            var kept = 0;
            for (var j = 0; j < take && kept < k; j++)
            {
                if (self is not null && ids[q * take + j] == self[q]) continue;
                truth[q * k + kept] = ids[q * take + j];
                kth[q] = scores[q * take + j];
                kept++;
            }
        }
        return (truth, kth);
    }

    /// <summary>Each row scaled to unit length (zero rows stay zero): cosine as an inner product.</summary>
    private static float[] UnitRows(float[] rows, int count, int cols)
    {
        var unit = rows.AsSpan(0, count * cols).ToArray();
        for (var r = 0; r < count; r++) VectorMath.NormalizeInPlace(unit.AsSpan(r * cols, cols));
        return unit;
    }

    /// <summary>
    /// The smallest size at or above <paramref name="minimum"/> reaching the target: the first rung of the ladder that
    /// does, then bisected against the rung below (a rung is 1.5x the last, so up to that much search would be wasted).
    /// Null when no size up to a quarter of the catalog does: a near-scan is no default to serve.
    /// </summary>
    private static ForestTuningResult? Climb(ForestIndex index, Queries queries, float slack, float target, int minimum, int threads)
    {
        var below = 0;
        var floor = Math.Min(Math.Max(minimum, 1), index.Count);
        var ceiling = Math.Max(floor, index.Count / MaxScannedShare);
        for (double size = Math.Max(FirstSearchK, floor); size <= ceiling && size < index.Count; size *= LadderStep)
        {
            var searchK = (int)size;
            var recall = Recall(index, queries, new ForestSearchOptions(searchK, slack), threads);
            if (recall < target)
            {
                below = searchK;
                continue;
            }
            var best = new ForestTuningResult(searchK, slack, recall, queries.Count);
            below = Math.Max(below, floor - 1);
            for (var round = 0; round < BisectRounds && best.SearchK - below > 1; round++)
            {
                var middle = below + (best.SearchK - below) / 2;
                var r = Recall(index, queries, new ForestSearchOptions(middle, slack), threads);
                if (r >= target) best = new ForestTuningResult(middle, slack, r, queries.Count);
                else below = middle;
            }
            return best;
        }
        return null;
    }

    /// <summary>
    /// Recall@k that counts a result as found when it is one of the true k or scores as high as the k-th (within float
    /// rounding): tied items (two artists with the same single listener have the same vector) are equally right, and
    /// which of them an exact scan lists is arbitrary.
    /// </summary>
    private static float Recall(ForestIndex index, Queries queries, ForestSearchOptions options, int threads)
    {
        var (cols, k) = (index.Dimensions, queries.K);
        long hits = 0;
        Parallel.For(0, queries.Count, new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount }, () => (Ids: new int[k], Scores: new float[k], Hits: 0L), (q, _, local) =>
        {
            var found = queries.ItemIds is { } self
                ? index.SearchByItem(self[q], k, local.Ids, local.Scores, options)
                : index.Search(queries.Vectors.AsSpan(q * cols, cols), k, local.Ids, local.Scores, options);
            var truth = queries.TruthIds.AsSpan(q * k, k);
            var kth = queries.KthScores[q];
            var tie = kth - 1e-5f * Math.Max(1f, Math.Abs(kth));
            for (var j = 0; j < found; j++)
                if (truth.Contains(local.Ids[j]) || local.Scores[j] >= tie) local.Hits++;
            return local;
        }, local => Interlocked.Add(ref hits, local.Hits));
        return (float)((double)hits / ((long)queries.Count * k));
    }

    private static unsafe void WriteHeader(string path, ForestTuningResult result)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
        ForestHeader header;
        file.ReadExactly(new Span<byte>(&header, ForestHeader.Size));
        header.TunedSearchK = (uint)result.SearchK;
        header.TunedRecall = result.Recall;
        header.TunedStopSlack = result.StopSlack;
        header.HeaderCrc = Crc32C.HeaderCrc(header);
        file.Position = 0;
        file.Write(new ReadOnlySpan<byte>(&header, ForestHeader.Size));
    }
}
