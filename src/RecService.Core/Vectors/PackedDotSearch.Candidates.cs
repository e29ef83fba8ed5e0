using System.Buffers;
using System.Numerics;

namespace RecService.Core.Vectors;

public sealed partial class PackedDotSearch
{
    /// <summary>Words of a query's exclusion bit filter: a few cache lines per group, few false hits for a user's
    /// played tracks.</summary>
    private const int ExclusionWords = 8;

    /// <summary>
    /// One group of queries' top-k state between tiles: each query's heap (kept in the caller's result spans: a
    /// buffer of candidates with a selection when full was tried and was slower, its threshold lagging), its
    /// current k-th best score (the threshold the kernel compares a tile row with; -inf until the heap is full, +inf
    /// for the panel rows past the last query so they never pass), and its exclusions, sorted for a binary search
    /// (only scores that reach the threshold are looked up).
    /// </summary>
    private ref struct Group
    {
        private readonly int _k;
        private readonly int _queries;
        private readonly Span<int> _ids;
        private readonly Span<float> _scores;
        private readonly Span<int> _heapCounts;
        private readonly Span<int> _exclusionStarts;
        private readonly Span<int> _exclusionEnds;
        // Per query, ExclusionWords words: bit (item mod their bits) set for each exclusion, so most items that reach
        // the heap are known not excluded without the binary search.
        private readonly Span<ulong> _excludedBits;

        /// <summary>Per panel row: the score an item must beat to enter that query's heap.</summary>
        public readonly Span<float> Thresholds;

        /// <summary>Every query's sorted exclusions back to back (query q's end at its exclusion end); null for none.</summary>
        public int[]? Exclusions;

        /// <param name="numbers">Three ints per query of the largest group: heap counts, exclusion starts and ends.</param>
        /// <param name="excludedBits"><see cref="ExclusionWords"/> per query of the largest group.</param>
        public Group(int k, int queries, Span<int> ids, Span<float> scores, Span<float> thresholds, Span<int> numbers, Span<ulong> excludedBits)
        {
            _excludedBits = excludedBits;
            _k = k;
            _queries = queries;
            _ids = ids;
            _scores = scores;
            Thresholds = thresholds;
            var third = numbers.Length / 3;
            _heapCounts = numbers[..third];
            _exclusionStarts = numbers.Slice(third, third);
            _exclusionEnds = numbers.Slice(2 * third, third);
            _heapCounts.Clear();
            Thresholds[..queries].Fill(float.NegativeInfinity);
            Thresholds[queries..].Fill(float.PositiveInfinity);
            Exclusions = null;
        }

        /// <summary>Copies each query's exclusions (asked once each) into one pooled array, sorting a query's copy only
        /// when it is not already ascending.</summary>
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
                _exclusionStarts[q] = used;
                var bits = _excludedBits.Slice(q * ExclusionWords, ExclusionWords);
                bits.Clear();
                foreach (var item in copy) bits[(item >> 6) & (ExclusionWords - 1)] |= 1UL << item;
                used += items.Length;
                _exclusionEnds[q] = used;
            }
            return all;
        }

        /// <summary>
        /// The lanes of one tile row set in <paramref name="mask"/> (they reached the threshold when the tile was
        /// compared): each still reaching the query's threshold, a real item, finite and not excluded is offered to
        /// the heap (which settles a tie on the id), and the threshold follows the heap's root.
        /// </summary>
        public void Offer(int query, uint mask, ReadOnlySpan<float> lanes, ReadOnlySpan<int> items)
        {
            var threshold = Thresholds[query];
            var top = new TopK(_scores.Slice(query * _k, _k), _ids.Slice(query * _k, _k), _heapCounts[query]);
            do
            {
                var lane = BitOperations.TrailingZeroCount(mask);
                mask &= mask - 1;
                var item = items[lane];
                if (item < 0) break; // the zero padding of the last panel, and every lane after it
                var score = lanes[lane];
                if (!(score >= threshold) || score == float.NegativeInfinity) continue;
                if (top.IsFull && score == threshold && item > top.Ids[0]) continue; // loses the tie: Add would refuse it
                if (IsExcluded(query, item)) continue;
                if (top.Add(score, item)) threshold = top.Threshold;
            } while (mask != 0);
            _heapCounts[query] = top.Count;
            Thresholds[query] = threshold;
        }

        private readonly bool IsExcluded(int query, int item)
        {
            if (Exclusions is null || (_excludedBits[query * ExclusionWords + ((item >> 6) & (ExclusionWords - 1))] & (1UL << item)) == 0) return false;
            var start = _exclusionStarts[query];
            return Exclusions.AsSpan(start, _exclusionEnds[query] - start).BinarySearch(item) >= 0;
        }

        /// <summary>Sorts every heap best first and writes how many each kept.</summary>
        public readonly void Finish(Span<int> counts)
        {
            for (var q = 0; q < _queries; q++)
                counts[q] = new TopK(_scores.Slice(q * _k, _k), _ids.Slice(q * _k, _k), _heapCounts[q]).SortDescending();
        }
    }
}
