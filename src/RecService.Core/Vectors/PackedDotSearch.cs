using System.Buffers;

namespace RecService.Core.Vectors;

/// <summary>The items one query of a batch must not get back (a user's played tracks), in any order; empty for none.</summary>
public delegate ReadOnlySpan<int> ExcludedItems(int query);

/// <summary>
/// Exact top-k by inner product for many queries at once, at the speed of a matrix product: the item vectors are
/// packed once into panels the micro-kernel streams (<see cref="PackedDotSearch"/>.Kernel.cs), queries are scored in
/// panels of <see cref="QueryRows"/> against item blocks that stay in cache, and each query keeps its k best in a heap
/// that a tile of scores only touches when one beats the query's current k-th best (.Candidates.cs).
/// Results are those of scoring every item and keeping the best k: items are offered to each query in ascending
/// order and a score must exceed the current k-th best to enter, as a plain scan with <see cref="TopK"/> does; a
/// query's scores are summed in factor order by fused multiply-adds, whatever queries it is batched with.
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

    // Panel p, factor c, lane j at [(p * Dimensions + c) * ItemLanes + j]: item p * ItemLanes + j's factor c, zero
    // past the last item. Factor-major within a panel, so one factor of sixteen items is two aligned vector loads.
    private readonly float[] _panels;
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
        _panels = new float[checked((long)panels * dims * ItemLanes)];
        for (var i = 0; i < count; i++)
        {
            var row = rows.Slice(i * dims, dims);
            var at = (long)(i / ItemLanes) * dims * ItemLanes + i % ItemLanes;
            for (var c = 0; c < dims; c++) _panels[at + c * ItemLanes] = row[c];
        }
        _blockPanels = Math.Max(1, ItemBlockBytes / (dims * ItemLanes * sizeof(float)));
    }

    public int Count { get; }
    public int Dimensions { get; }

    /// <summary>
    /// The best <paramref name="k"/> items of each query: query i's ids and scores best first at <c>[(i * k)..]</c> of
    /// <paramref name="ids"/> and <paramref name="scores"/>, how many in <c>counts[i]</c> (fewer than k only when
    /// fewer items are left after its exclusions). Ties on score keep the smaller id. Safe to call from many threads.
    /// </summary>
    /// <param name="queries">Row-major, <paramref name="queryCount"/> x <see cref="Dimensions"/>.</param>
    /// <param name="excluded">Items query i must not get back, asked once per query; null for none.</param>
    public void Search(ReadOnlySpan<float> queries, int queryCount, int k, Span<int> ids, Span<float> scores, Span<int> counts, ExcludedItems? excluded = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(queryCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        if (queries.Length < (long)queryCount * Dimensions) throw new ArgumentException("queries is shorter than queryCount x Dimensions.", nameof(queries));
        if (ids.Length < (long)queryCount * k || scores.Length < (long)queryCount * k || counts.Length < queryCount)
            throw new ArgumentException("The result spans are shorter than queryCount x k.");
        const int GroupQueries = GroupPanels * QueryRows;
        var packed = ArrayPool<float>.Shared.Rent(GroupQueries * Dimensions);
        var state = ArrayPool<float>.Shared.Rent(GroupQueries);
        var numbers = ArrayPool<int>.Shared.Rent(3 * GroupQueries);
        try
        {
            for (var first = 0; first < queryCount; first += GroupQueries)
            {
                var n = Math.Min(GroupQueries, queryCount - first);
                var panels = (n + QueryRows - 1) / QueryRows;
                PackQueries(queries.Slice(first * Dimensions, n * Dimensions), n, packed);
                var group = new Group(k, n, ids.Slice(first * k, n * k), scores.Slice(first * k, n * k),
                    state.AsSpan(0, panels * QueryRows), numbers.AsSpan(0, 3 * GroupQueries));
                var exclusions = excluded is null ? null : group.CollectExclusions(excluded, first);
                try
                {
                    group.Exclusions = exclusions;
                    for (var block = 0; block * ItemLanes < Count; block += _blockPanels)
                    {
                        var end = Math.Min((Count + ItemLanes - 1) / ItemLanes, block + _blockPanels);
                        for (var p = 0; p < panels; p++) ScanPanels(packed, p, block, end, ref group);
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
        }
    }

    /// <summary>Queries into panels of <see cref="QueryRows"/>, factor-major (panel p, factor c, row r at
    /// [(p * Dimensions + c) * QueryRows + r]), so the kernel broadcasts one factor of each row from consecutive
    /// floats; the rows past the last query are zero.</summary>
    private void PackQueries(ReadOnlySpan<float> queries, int n, float[] packed)
    {
        var dims = Dimensions;
        var panels = (n + QueryRows - 1) / QueryRows;
        packed.AsSpan(0, panels * QueryRows * dims).Clear();
        for (var q = 0; q < n; q++)
        {
            var row = queries.Slice(q * dims, dims);
            var at = q / QueryRows * dims * QueryRows + q % QueryRows;
            for (var c = 0; c < dims; c++) packed[at + c * QueryRows] = row[c];
        }
    }
}
