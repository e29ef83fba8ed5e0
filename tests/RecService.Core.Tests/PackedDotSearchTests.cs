using RecService.Core.Sampling;
using RecService.Core.Vectors;

namespace RecService.Core.Tests;

/// <summary>The blocked top-k kernel against a plain scan that scores every item the same way (fused multiply-adds in
/// factor order, so the scores are bit for bit the kernel's) and ranks by score, ties to the smaller id.</summary>
public sealed class PackedDotSearchTests
{
    [Theory]
    // items, dims, k, queries, spread norms: one item; sizes off every tile and block edge; k above the item count;
    // several query groups and item blocks (norms alike, so the winners are spread over every block).
    [InlineData(1, 1, 1, 1, true)]
    [InlineData(37, 13, 5, 7, true)]
    [InlineData(100, 64, 150, 13, true)]
    [InlineData(3001, 64, 20, 101, false)]
    [InlineData(2500, 24, 100, 200, true)]
    public void Top_k_equals_a_naive_scan_on_random_vectors_with_exclusions(int items, int dims, int k, int queries, bool spread)
    {
        var rng = new Xoshiro256((ulong)(items * 31 + dims));
        var itemRows = Gaussian(ref rng, items * dims, spread, dims);
        var queryRows = Gaussian(ref rng, queries * dims, spread: false, dims);
        var excluded = Exclusions(ref rng, queries, items);
        AssertMatchesNaive(itemRows, items, dims, queryRows, queries, k, excluded);
    }

    [Fact]
    public void Ties_go_to_the_smaller_id_and_all_negative_scores_are_ranked()
    {
        // Small integer factors: many items share a score. Queries opposite to every item: all scores negative.
        const int items = 517, dims = 9, queries = 19;
        var rng = new Xoshiro256(3);
        var itemRows = new float[items * dims];
        for (var i = 0; i < itemRows.Length; i++) itemRows[i] = 1 + rng.NextInt(3);
        var tied = new float[queries * dims];
        for (var i = 0; i < tied.Length; i++) tied[i] = rng.NextInt(3) - 1;
        AssertMatchesNaive(itemRows, items, dims, tied, queries, 40, Exclusions(ref rng, queries, items));
        var negative = new float[queries * dims];
        for (var i = 0; i < negative.Length; i++) negative[i] = -1 - rng.NextInt(2);
        AssertMatchesNaive(itemRows, items, dims, negative, queries, 40, null);
    }

    [Fact]
    public void The_norm_bound_skips_items_and_stays_exact()
    {
        // Norms with a long tail, as trained factors have: most items cannot reach a query's best and are skipped.
        const int items = 4000, dims = 32, queries = 50, k = 10;
        var rng = new Xoshiro256(11);
        var itemRows = Gaussian(ref rng, items * dims, spread: true, dims);
        var queryRows = Gaussian(ref rng, queries * dims, spread: false, dims);
        var scored = AssertMatchesNaive(itemRows, items, dims, queryRows, queries, k, Exclusions(ref rng, queries, items));
        Assert.InRange(scored, 1, (long)queries * items / 2);
    }

    [Fact]
    public void An_item_just_inside_the_norm_bound_is_still_found()
    {
        // One query along the first axis, k = 2. Sorted by norm: X (norm 31.5, score 9.5), thirty fillers (norms 15 to
        // 12, score -1), A (10, score 10), then W (9.51, score 9.51) alone in the last panel. Once X and A are in, the
        // k-th best is 9.5 and W's panel bound, 9.51, only just reaches it: a bound a tenth of a percent tighter skips W.
        const int dims = 3;
        var rows = new List<float> { 9.5f, 30, 0 };
        for (var i = 0; i < 30; i++) rows.AddRange([-1, 0, 15 - i * 0.1f]);
        rows.AddRange([10, 0, 0]);
        rows.AddRange([9.51f, 0, 0]);
        var itemRows = rows.ToArray();
        AssertMatchesNaive(itemRows, itemRows.Length / dims, dims, [1, 0, 0], 1, 2, null);
    }

    private static long AssertMatchesNaive(float[] itemRows, int items, int dims, float[] queryRows, int queries, int k, int[][]? excluded)
    {
        var search = new PackedDotSearch(itemRows, items, dims);
        var ids = new int[queries * k];
        var scores = new float[queries * k];
        var counts = new int[queries];
        var scored = search.Search(queryRows, queries, k, ids, scores, counts, excluded is null ? null : q => excluded[q]);
        for (var q = 0; q < queries; q++)
        {
            var skip = excluded is null ? [] : excluded[q].ToHashSet();
            var naive = Enumerable.Range(0, items).Where(i => !skip.Contains(i))
                .Select(i => (Id: i, Score: FusedDot(queryRows.AsSpan(q * dims, dims), itemRows.AsSpan(i * dims, dims))))
                .OrderByDescending(x => x.Score).ThenBy(x => x.Id).Take(k).ToArray();
            Assert.Equal(naive.Length, counts[q]);
            Assert.Equal(naive.Select(x => x.Id), ids.AsSpan(q * k, counts[q]).ToArray());
            Assert.Equal(naive.Select(x => x.Score), scores.AsSpan(q * k, counts[q]).ToArray());
        }
        return scored;
    }

    private static float FusedDot(ReadOnlySpan<float> x, ReadOnlySpan<float> y)
    {
        var s = 0f;
        for (var c = 0; c < x.Length; c++) s = MathF.FusedMultiplyAdd(y[c], x[c], s);
        return s;
    }

    /// <summary>Normal values; with <paramref name="spread"/>, each row scaled by e^(2 N(0,1)), a long tail of norms.</summary>
    private static float[] Gaussian(ref Xoshiro256 rng, int length, bool spread, int dims)
    {
        var values = new float[length];
        var scale = 1.0;
        for (var i = 0; i < length; i++)
        {
            if (i % dims == 0) scale = spread ? Math.Exp(2 * rng.NextGaussian()) : 1;
            values[i] = (float)(rng.NextGaussian() * scale);
        }
        return values;
    }

    /// <summary>Per query up to a tenth of the items, unsorted, some twice; a few queries with none.</summary>
    private static int[][] Exclusions(ref Xoshiro256 rng, int queries, int items)
    {
        var lists = new int[queries][];
        for (var q = 0; q < queries; q++)
        {
            var n = q % 4 == 3 ? 0 : rng.NextInt(Math.Max(1, items / 10));
            lists[q] = new int[n];
            for (var i = 0; i < n; i++) lists[q][i] = rng.NextInt(items);
        }
        return lists;
    }
}
