using System.Buffers;
using System.Numerics;

namespace RecService.Core.Vectors;

public sealed partial class PackedDotSearch
{
    /// <summary>
    /// One group of queries' top-k state between tiles: each query's heap (kept in the caller's result spans), its
    /// current k-th best score (the threshold the kernel compares a tile row with; -inf until the heap is full, +inf
    /// for the panel rows past the last query so they never pass), and its exclusions sorted, with a cursor that only
    /// moves forward because items reach a query in ascending order.
    /// </summary>
    private ref struct Group
    {
        private readonly int _k;
        private readonly int _queries;
        private readonly Span<int> _ids;
        private readonly Span<float> _scores;
        private readonly Span<int> _heapCounts;
        private readonly Span<int> _cursors;
        private readonly Span<int> _exclusionEnds;

        /// <summary>Per panel row: the score an item must beat to enter that query's heap.</summary>
        public readonly Span<float> Thresholds;

        /// <summary>Every query's sorted exclusions back to back (query q's end at its exclusion end); null for none.</summary>
        public int[]? Exclusions;

        /// <param name="numbers">Three ints per query of the largest group: heap counts, cursors, exclusion ends.</param>
        public Group(int k, int queries, Span<int> ids, Span<float> scores, Span<float> thresholds, Span<int> numbers)
        {
            _k = k;
            _queries = queries;
            _ids = ids;
            _scores = scores;
            Thresholds = thresholds;
            var third = numbers.Length / 3;
            _heapCounts = numbers[..third];
            _cursors = numbers.Slice(third, third);
            _exclusionEnds = numbers.Slice(2 * third, third);
            _heapCounts.Clear();
            Thresholds[..queries].Fill(float.NegativeInfinity);
            Thresholds[queries..].Fill(float.PositiveInfinity);
            Exclusions = null;
        }

        /// <summary>Copies each query's exclusions (asked once each) into one pooled array, sorting a query's copy only
        /// when it is not already ascending, and points every cursor at its query's first.</summary>
        public int[] CollectExclusions(ExcludedItems excluded, int firstQuery)
        {
            var all = ArrayPool<int>.Shared.Rent(1024);
            var used = 0;
            for (var q = 0; q < _queries; q++)
            {
                var items = excluded(firstQuery + q);
                if (used + items.Length > all.Length)
                {
                    var larger = ArrayPool<int>.Shared.Rent(Math.Max(2 * all.Length, used + items.Length));
                    all.AsSpan(0, used).CopyTo(larger);
                    ArrayPool<int>.Shared.Return(all);
                    all = larger;
                }
                var copy = all.AsSpan(used, items.Length);
                items.CopyTo(copy);
                for (var i = 1; i < copy.Length; i++)
                {
                    if (copy[i] >= copy[i - 1]) continue;
                    copy.Sort();
                    break;
                }
                _cursors[q] = used;
                used += items.Length;
                _exclusionEnds[q] = used;
            }
            return all;
        }

        /// <summary>
        /// The lanes of one tile row set in <paramref name="mask"/> (they beat the threshold when the tile was
        /// compared), in ascending item order: each still above the query's threshold, a real item and not excluded
        /// enters the heap, and the threshold follows the heap's root.
        /// </summary>
        public void Offer(int query, uint mask, ReadOnlySpan<float> lanes, int firstItem, int itemCount)
        {
            var threshold = Thresholds[query];
            var top = new TopK(_scores.Slice(query * _k, _k), _ids.Slice(query * _k, _k), _heapCounts[query]);
            do
            {
                var lane = BitOperations.TrailingZeroCount(mask);
                mask &= mask - 1;
                var item = firstItem + lane;
                if (item >= itemCount) break; // the zero padding of the last panel, and every lane after it
                var score = lanes[lane];
                if (!(score > threshold) || IsExcluded(query, item)) continue;
                top.Add(score, item);
                threshold = top.Threshold;
            } while (mask != 0);
            _heapCounts[query] = top.Count;
            Thresholds[query] = threshold;
        }

        private readonly bool IsExcluded(int query, int item)
        {
            if (Exclusions is null) return false;
            var at = _cursors[query];
            var end = _exclusionEnds[query];
            while (at < end && Exclusions[at] < item) at++;
            _cursors[query] = at;
            return at < end && Exclusions[at] == item;
        }

        /// <summary>Sorts every heap best first and writes how many each kept.</summary>
        public readonly void Finish(Span<int> counts)
        {
            for (var q = 0; q < _queries; q++)
                counts[q] = new TopK(_scores.Slice(q * _k, _k), _ids.Slice(q * _k, _k), _heapCounts[q]).SortDescending();
        }
    }
}
