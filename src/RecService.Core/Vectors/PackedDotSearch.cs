using System.Buffers;

namespace RecService.Core.Vectors;

/// <summary>The items one query of a batch must not get back (a user's played tracks), in any order; empty for none.</summary>
public delegate ReadOnlySpan<int> ExcludedItems(int query);

/// <summary>
/// Exact top-k by inner product for many queries at once, at the speed of a matrix product: the item vectors are
/// packed once into panels the micro-kernel streams (<see cref="PackedDotSearch"/>.Kernel.cs), queries are scored in
/// panels of <see cref="QueryRows"/> against item blocks that stay in cache, and each query keeps its k best in a heap
/// that a tile of scores only touches when one reaches the query's current k-th best (.Candidates.cs).
/// Items are packed in descending norm order: the large-norm items, which hold most of any query's best scores, come
/// first, so the k-th best rises early and few later scores reach the heap; and once |x| |y| of a panel's largest item
/// (with a margin for rounding) is below every query's k-th best in a query panel, no later item can enter and the
/// panel stops (the Cauchy-Schwarz bound), which keeps the result exact.
/// Results are those of scoring every item and keeping the best k, ties to the smaller id (as <see cref="TopK"/>);
/// a query's scores are summed in factor order by fused multiply-adds, whatever queries it is batched with.
/// </summary>
public sealed partial class PackedDotSearch
{
    /// <summary>Queries per micro-tile: six rows of two 8-lane accumulators take twelve of the sixteen 256-bit
    /// registers, leaving two for the item vectors and one for the broadcast query factor.</summary>
    internal const int QueryRows = 6;

    /// <summary>Items per micro-tile and per packed panel: two 256-bit vectors.</summary>
    internal const int ItemLanes = 16;

    /// <summary>Packed item bytes every query panel of a group scans before the group moves on: small enough to stay
    /// in one core's L2 cache with the group's queries and heaps, so items come from memory once per group.</summary>
    private const int ItemBlockBytes = 256 * 1024;

    /// <summary>Queries scored together over the item blocks: enough panels to reuse each block many times, few
    /// enough that their packed factors and heaps stay cached beside the block.</summary>
    private const int GroupPanels = 16;

    /// <summary>Queries a <see cref="Search"/> call scores together over the items; callers splitting a batch over
    /// threads hand out multiples of it.</summary>
    public const int GroupQueries = GroupPanels * QueryRows;

    // Panel p, factor c, lane j at [(p * Dimensions + c) * ItemLanes + j]: factor c of the item at sorted position
    // p * ItemLanes + j (_items), zero past the last. Factor-major within a panel, so one factor of sixteen items is
    // two vector loads.
    private readonly float[] _panels;
    // Sorted position -> item id, descending norm (ties by id); -1 past the last item.
    private readonly int[] _items;
    // Per panel: the norm of its first (largest) item, rounded up, times the factor that covers the rounding of a
    // computed dot product (see QueryBound).
    private readonly double[] _panelNorms;
    private readonly int _blockPanels;

    /// <param name="rows">Item vectors, row-major, <paramref name="count"/> x <paramref name="dims"/>.</param>
    public PackedDotSearch(ReadOnlySpan<float> rows, int count, int dims)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(dims, 1);
        if (rows.Length < (long)count * dims) throw new ArgumentException($"rows holds {rows.Length} floats, fewer than {count}x{dims}.", nameof(rows));
        Count = count;
        Dimensions = dims;
        var panels = (count + ItemLanes - 1) / ItemLanes;
        var norms = new double[count];
        for (var i = 0; i < count; i++) norms[i] = Norm(rows.Slice(i * dims, dims));
        var order = new int[count];
        for (var i = 0; i < count; i++) order[i] = i;
        // NaN norms (a damaged vector) sort first: their panels are never skipped.
        Array.Sort(order, (a, b) => norms[a].CompareTo(norms[b]) is var c && c != 0 ? -c : a.CompareTo(b));
        _items = new int[panels * ItemLanes];
        _items.AsSpan().Fill(-1);
        order.CopyTo(_items, 0);
        _panelNorms = new double[panels];
        _panels = new float[checked((long)panels * dims * ItemLanes)];
        for (var position = 0; position < count; position++)
        {
            var row = rows.Slice(order[position] * dims, dims);
            var at = (long)(position / ItemLanes) * dims * ItemLanes + position % ItemLanes;
            for (var c = 0; c < dims; c++) _panels[at + c * ItemLanes] = row[c];
            if (position % ItemLanes == 0) _panelNorms[position / ItemLanes] = RoundedUp(norms[order[position]]) * RoundingMargin(dims);
        }
        _blockPanels = Math.Max(1, ItemBlockBytes / (dims * ItemLanes * sizeof(float)));
    }

    public int Count { get; }
    public int Dimensions { get; }

    /// <summary>The norm in double, so that its float inputs add no error worth counting.</summary>
    private static double Norm(ReadOnlySpan<float> row)
    {
        var sum = 0.0;
        foreach (var v in row) sum += (double)v * v;
        return Math.Sqrt(sum);
    }

    private static double RoundedUp(double norm) => double.IsNaN(norm) ? double.PositiveInfinity : norm * (1 + 1e-12);

    /// <summary>A computed fp32 dot product of n terms exceeds |x| |y| by at most n u / (1 - n u) of it (u = 2^-24,
    /// the terms' rounding); twice that leaves room for the bound's own arithmetic.</summary>
    private static double RoundingMargin(int dims)
    {
        var nu = dims * Math.Pow(2, -24);
        return 1 + 2 * nu / (1 - nu);
    }

    /// <summary>
    /// The best <paramref name="k"/> items of each query: query i's ids and scores best first at <c>[(i * k)..]</c> of
    /// <paramref name="ids"/> and <paramref name="scores"/>, how many in <c>counts[i]</c> (fewer than k only when
    /// fewer items are left after its exclusions). Ties on score keep the smaller id. Safe to call from many threads.
    /// </summary>
    /// <param name="queries">Row-major, <paramref name="queryCount"/> x <see cref="Dimensions"/>.</param>
    /// <param name="excluded">Items query i must not get back, asked once per query; null for none.</param>
    /// <returns>Query-item scores computed, padding of the last panels included: the brute-force count less the items
    /// the norm bound skipped.</returns>
    public long Search(ReadOnlySpan<float> queries, int queryCount, int k, Span<int> ids, Span<float> scores, Span<int> counts, ExcludedItems? excluded = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queryCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (queries.Length < (long)queryCount * Dimensions) throw new ArgumentException("queries is shorter than queryCount x Dimensions.", nameof(queries));
        if (ids.Length < (long)queryCount * k || scores.Length < (long)queryCount * k || counts.Length < queryCount)
            throw new ArgumentException("The result spans are shorter than queryCount x k.");
        var packed = ArrayPool<float>.Shared.Rent(GroupQueries * Dimensions);
        var state = ArrayPool<float>.Shared.Rent(GroupQueries);
        var numbers = ArrayPool<int>.Shared.Rent(3 * GroupQueries);
        var bounds = ArrayPool<double>.Shared.Rent(GroupQueries);
        var excludedBits = ArrayPool<ulong>.Shared.Rent(GroupQueries * ExclusionWords);
        Span<bool> stopped = stackalloc bool[GroupPanels];
        long scored = 0;
        try
        {
            for (var first = 0; first < queryCount; first += GroupQueries)
            {
                var n = Math.Min(GroupQueries, queryCount - first);
                var panels = (n + QueryRows - 1) / QueryRows;
                PackQueries(queries.Slice(first * Dimensions, n * Dimensions), n, packed, bounds);
                var group = new Group(k, n, ids.Slice(first * k, n * k), scores.Slice(first * k, n * k),
                    state.AsSpan(0, panels * QueryRows), numbers.AsSpan(0, 3 * GroupQueries), excludedBits.AsSpan(0, GroupQueries * ExclusionWords));
                var exclusions = excluded is null ? null : group.CollectExclusions(excluded, first);
                try
                {
                    group.Exclusions = exclusions;
                    stopped.Clear();
                    for (var block = 0; block * ItemLanes < Count; block += _blockPanels)
                    {
                        var end = Math.Min(_panelNorms.Length, block + _blockPanels);
                        for (var p = 0; p < panels; p++)
                        {
                            if (stopped[p]) continue;
                            var at = ScanPanels(packed, bounds, p, block, end, ref group);
                            scored += (long)(at - block) * QueryRows * ItemLanes;
                            stopped[p] = at < end;
                        }
                    }
                    group.Finish(counts.Slice(first, n));
                }
                finally
                {
                    if (exclusions is not null) ArrayPool<int>.Shared.Return(exclusions);
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(packed);
            ArrayPool<float>.Shared.Return(state);
            ArrayPool<int>.Shared.Return(numbers);
            ArrayPool<double>.Shared.Return(bounds);
            ArrayPool<ulong>.Shared.Return(excludedBits);
        }
        return scored;
    }

    /// <summary>Queries into panels of <see cref="QueryRows"/>, factor-major (panel p, factor c, row r at
    /// [(p * Dimensions + c) * QueryRows + r]), so the kernel broadcasts one factor of each row from consecutive
    /// floats; the rows past the last query are zero. <paramref name="bounds"/> gets each query's norm, rounded up.</summary>
    private void PackQueries(ReadOnlySpan<float> queries, int n, float[] packed, double[] bounds)
    {
        var dims = Dimensions;
        var panels = (n + QueryRows - 1) / QueryRows;
        packed.AsSpan(0, panels * QueryRows * dims).Clear();
        for (var q = 0; q < n; q++)
        {
            var row = queries.Slice(q * dims, dims);
            var at = q / QueryRows * dims * QueryRows + q % QueryRows;
            for (var c = 0; c < dims; c++) packed[at + c * QueryRows] = row[c];
            bounds[q] = RoundedUp(Norm(row));
        }
        bounds.AsSpan(n, panels * QueryRows - n).Clear();
    }
}
