using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;
using RecService.Core.Vectors;
using static RecService.Core.Forest.ForestKernels;

namespace RecService.Core.Forest;

// The query: priority walk over the trees, leaf scans on int8 codes, exact float32 re-rank.
public sealed unsafe partial class ForestIndex
{

    /// <summary>
    /// The k items scoring highest against <paramref name="query"/>: cosine for a cosine index, inner product for a dot
    /// index. Writes them best first into <paramref name="ids"/>/<paramref name="scores"/> and returns how many (k unless
    /// fewer than k items are left after exclusions, or the spans are shorter than k).
    /// </summary>
    /// <param name="searchK">Candidates to score on codes before stopping; -1 uses the index's default (<see cref="DefaultOptions"/>). More is
    /// slower and more accurate.</param>
    /// <param name="excluded">Item ids never to return (already played, thumbs-down), in any order; ids outside the index are ignored.
    /// Excluded items do not count towards searchK, and the search goes on until it has k results.</param>
    /// <param name="stopSlack">Early stop: the search also ends once the best queued cell looks unable to beat the
    /// candidates kept (step 4 of FORMAT.md's query walk-through); larger stops sooner. 0 turns it off (searchK alone
    /// decides), -1 uses the index's default. A searchK of Count or more always scans everything.</param>
    public int Search(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, int searchK = -1, ReadOnlySpan<int> excluded = default,
        float stopSlack = -1)
    {
        if (query.Length != _dims) throw new ArgumentException($"Query has {query.Length} dimensions; the index has {_dims}.", nameof(query));
        return SearchCore(query, k, ids, scores, new ForestSearchOptions(searchK, stopSlack), excluded, -1, out _);
    }

    /// <summary>As <see cref="Search(ReadOnlySpan{float}, int, Span{int}, Span{float}, int, ReadOnlySpan{int}, float)"/>,
    /// tuned by <paramref name="options"/>.</summary>
    public int Search(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, in ForestSearchOptions options,
        ReadOnlySpan<int> excluded = default) => Search(query, k, ids, scores, options, excluded, out _);

    /// <summary>As <see cref="Search(ReadOnlySpan{float}, int, Span{int}, Span{float}, in ForestSearchOptions, ReadOnlySpan{int})"/>,
    /// also reporting what the query did.</summary>
    public int Search(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, in ForestSearchOptions options,
        ReadOnlySpan<int> excluded, out ForestSearchStats stats)
    {
        if (query.Length != _dims) throw new ArgumentException($"Query has {query.Length} dimensions; the index has {_dims}.", nameof(query));
        int n = SearchCore(query, k, ids, scores, options, excluded, -1, out int scored);
        stats = new ForestSearchStats(scored);
        return n;
    }

    /// <summary>Items most similar to item <paramref name="item"/> (by its stored vector), never the item itself.</summary>
    public int SearchByItem(int item, int k, Span<int> ids, Span<float> scores, int searchK = -1, ReadOnlySpan<int> excluded = default,
        float stopSlack = -1) => SearchByItem(item, k, ids, scores, new ForestSearchOptions(searchK, stopSlack), excluded);

    /// <summary>As <see cref="SearchByItem(int, int, Span{int}, Span{float}, int, ReadOnlySpan{int}, float)"/>, tuned by
    /// <paramref name="options"/>.</summary>
    public int SearchByItem(int item, int k, Span<int> ids, Span<float> scores, in ForestSearchOptions options, ReadOnlySpan<int> excluded = default)
    {
        if ((uint)item >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(item), item, $"Item must be in [0, {_count}).");
        RequireVectors();
        AddRef();
        try { return SearchCore(new ReadOnlySpan<float>(_vectors + (long)item * _dims, _dims), k, ids, scores, options, excluded, item, out _); }
        finally { Release(); }
    }

    private int SearchCore(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, in ForestSearchOptions options,
        ReadOnlySpan<int> excluded, int selfId, out int scored)
    {
        scored = 0;
        k = Math.Min(k, Math.Min(ids.Length, scores.Length));
        if (k <= 0) return 0;
        RequireVectors(); // the exact re-rank reads them
        var tuned = options.Or(_defaults);
        int searchK = tuned.SearchK;
        float stopSlack = tuned.StopSlack;
        int rerankCount = tuned.Rerank;
        if (searchK >= _count || !float.IsFinite(stopSlack)) stopSlack = 0; // asked to scan everything: no early stop
        // Slack above k: codes misorder near-ties.
        int rerank = Math.Max(2 * k, searchK >= _count ? Math.Max(rerankCount, ExhaustiveRerankCount) : rerankCount);
        var s = SearchScratch.Get(_count, _nodeCount + _trees, _padded, rerank, k);
        AddRef();
        int touched = 0;
        try
        {
            float* q = s.Query;
            short* qCodes = s.QueryCodes;
            var unit = new Span<float>(q, _padded);
            query.CopyTo(unit);
            unit[_dims..].Clear();
            float norm = VectorMath.NormalizeInPlace(unit[.._dims]);
            if (!float.IsFinite(norm)) throw new ArgumentException("Query has a non-finite component.", nameof(query));
            float queryScale = VectorMath.QuantizeInt16(unit[.._dims], new Span<short>(qCodes, _padded));

            // The visited map (a byte per slot) is indexed by slot. Excluded items are marked up front, so they are never scored and
            // never count towards searchK.
            byte* visited = s.Visited;
            int* touchedSlots = s.Touched;
            int excludedMarked = MarkExcluded(excluded, visited, touchedSlots);
            if (excludedMarked < 0)
            {
                touched = ~excludedMarked; // the slots marked before the bad one must still be cleared
                throw Corrupt(_path, "slot of an excluded item out of range");
            }
            touched = excludedMarked;
            if (selfId >= 0) touched += Mark(visited, touchedSlots + touched, SlotOf(selfId));

            var candidates = new CandidatePool(s.CandidateScores, s.CandidateIds, rerank);
            var queue = new NodeQueue(s.QueueKeys, s.QueueRefs, _nodeCount + _trees);
            for (int t = 0; t < _trees; t++)
                if (!queue.Push(0f, _roots[t])) throw Corrupt(_path, "node queue overflow");

            int scanned = 0;
            int padded = _padded;
            float threshold = float.NegativeInfinity; // candidates.Threshold, cached: it only changes when a candidate enters.
            // The early stop compares in score units (q̂·y): code scores times queryScale, against the best any item can
            // reach, 1 for cosine and MaxNorm for dot.
            // The slack was tuned at 64 dimensions; with fewer it is scaled down (at 16 the unscaled default lost 5 points
            // of recall@10 on the test set, scaled 0.1), and it is never scaled up past the tuned value.
            float stopScale = stopSlack * 0.5f * Math.Min(1f, _dims / 64f);
            float bestPossible = _header.Metric == (uint)Metric.Cosine ? 1f : _header.MaxNorm;
            // The early stop's cut in score units: -inf (nothing ruled out) until the stop is on and the pool is full.
            float stopCut = float.NegativeInfinity;
            // The code kernel is fixed for the query: built once, the 64-wide one holds the query codes in registers.
            var kernel = KernelFor(padded);
            if (searchK >= _count)
            {
                // A full scan: one pass over tree 0's codes (always coded: CodedTrees >= 1 is checked at open), which hold
                // every item in leaf order, instead of walking all trees' leaves (each item once per tree, via the queue).
                var all = new LeafOrderedCodes(_leafCodes, _leafScales, padded);
                int added = Scan(kernel, qCodes, padded, _leafSlots, _count, visited, touchedSlots + touched, all, ref candidates, ref threshold);
                if (added < 0)
                {
                    touched += ~added;
                    throw Corrupt(_path, "tree 0 holds a slot out of range");
                }
                touched += added;
                scanned += added;
            }
            else while (queue.Count > 0 && (scanned < searchK || candidates.Count < k))
            {
                // In the unit-sphere space the search runs in, a cell behind hyperplanes at margins m_i from the query
                // would lie at squared distance >= sum m_i^2 = -priority if those hyperplanes were orthogonal, so hold no
                // item above bestPossible * (1 + priority / 2). They are not orthogonal, so this is no bound; scaled by
                // the slack it is a tuned rule that ends a search whose remaining cells are unlikely to place an item
                // above the weakest kept candidate.
                if (Hopeless(queue.TopKey, stopScale, bestPossible, stopCut)) break;
                queue.Pop(out float priority, out int reference);
                // Descend to a leaf, queueing the far side of each split. A subtree's priority is minus the sum of the
                // squared margins crossed to reach it: a lower bound on the squared distance from the query to the
                // subtree's cell when the crossed hyperplanes are near-orthogonal (FLANN's rule for kd-trees), and a
                // sharper ordering than Annoy's smallest-margin-on-the-path once several boundaries are crossed.
                while (reference >= 0) reference = Descend(reference, priority, queryScale, qCodes, ref queue, stopScale, bestPossible, stopCut);
                int leafIndex = ~reference;
                if ((uint)leafIndex >= (uint)_leafCount) throw Corrupt(_path, $"leaf {leafIndex} out of range");
                var leaf = _leaves[leafIndex];
                if (leaf.Start < 0 || leaf.Length < 0 || (long)leaf.Start + leaf.Length > _positions) throw Corrupt(_path, $"leaf {leafIndex} range out of bounds");
                int* leafSlots = _leafSlots + leaf.Start;
                int* touchedOut = touchedSlots + touched;
                bool leafOrdered = leaf.Start + (long)leaf.Length <= _codedPositions;
                var ordered = new LeafOrderedCodes(_leafCodes + (long)leaf.Start * padded, _leafScales + leaf.Start, padded);
                var scattered = new SlotOrderedCodes(_leafCodes, _leafScales, padded);
                int added = leafOrdered
                    ? Scan(kernel, qCodes, padded, leafSlots, leaf.Length, visited, touchedOut, ordered, ref candidates, ref threshold)
                    : Scan(kernel, qCodes, padded, leafSlots, leaf.Length, visited, touchedOut, scattered, ref candidates, ref threshold);
                if (added < 0)
                {
                    touched += ~added; // the slots marked before the bad one must still be cleared
                    throw Corrupt(_path, $"leaf {leafIndex} holds a slot out of range");
                }
                touched += added;
                scanned += added;
                if (stopScale > 0f && candidates.IsFull) stopCut = threshold * queryScale;
            }

            // Exact float32 re-rank of the best candidates by code score.
            var top = new TopK(new Span<float>(s.TopScores, k), new Span<int>(s.TopIds, k));
            Rerank(candidates.Slots, query, q, ref top);
            int n = top.SortDescending();
            scored = scanned;
            top.Ids.CopyTo(ids);
            top.Scores.CopyTo(scores);
            return n;
        }
        finally
        {
            // Clear only the words this query set: O(work done), not O(Count).
            byte* visited = s.Visited;
            int* touchedSlots = s.Touched;
            for (int i = 0; i < touched; i++) visited[touchedSlots[i]] = 0;
            Release();
        }
    }

    /// <summary>The code kernels: 64 dimensions (ALS factors) get one that keeps the query codes in registers.</summary>
    private enum CodeKernel { Padded, Wide64Avx2, Wide64Avx512 }

    private static CodeKernel KernelFor(int padded) =>
        padded != 64 ? CodeKernel.Padded : Avx512BW.IsSupported ? CodeKernel.Wide64Avx512 : Avx2.IsSupported ? CodeKernel.Wide64Avx2 : CodeKernel.Padded;

    /// <summary>A leaf's scan with the query's kernel (built per leaf: a handful of register loads).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Scan<TCodes>(CodeKernel kernel, short* qCodes, int padded, int* slots, int length, byte* visited, int* touchedOut, TCodes codes,
        ref CandidatePool candidates, ref float threshold) where TCodes : struct, ILeafCodes => kernel switch
    {
        CodeKernel.Wide64Avx512 => ScanLeaf(slots, length, (uint)_count, visited, touchedOut, _slotItems, new Dot64(qCodes), codes, ref candidates, ref threshold),
        CodeKernel.Wide64Avx2 => ScanLeaf(slots, length, (uint)_count, visited, touchedOut, _slotItems, new Dot64Avx2(qCodes), codes, ref candidates, ref threshold),
        _ => ScanLeaf(slots, length, (uint)_count, visited, touchedOut, _slotItems, new DotPadded(qCodes, padded), codes, ref candidates, ref threshold),
    };

    /// <summary>Marks the slots of <paramref name="excluded"/> visited up front, so they are never scored and never count
    /// towards searchK. Returns how many slots it marked (recorded at <paramref name="touchedSlots"/> for clearing), or, on a
    /// slot out of range, the bitwise complement of that count.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int MarkExcluded(ReadOnlySpan<int> excluded, byte* visited, int* touchedSlots)
    {
        int touched = 0;
        // Excluded ids (a user's played tracks) are scattered over the id -> slot table: their slots are gathered in
        // a loop of independent loads first, so the cache misses overlap, and marked after.
        int* gathered = stackalloc int[64];
        for (int start = 0; start < excluded.Length; start += 64)
        {
            int m = 0;
            foreach (int id in excluded.Slice(start, Math.Min(64, excluded.Length - start)))
            {
                if ((uint)id < (uint)_count) gathered[m++] = _idSlots[id];
            }
            // Their flags are as scattered over the visited map: all requested before any is tested (3-4% of an
            // in-process Recommend at 1M x 64, 30 played tracks).
            if (Sse.IsSupported)
                for (int j = 0; j < m; j++)
                    if ((uint)gathered[j] < (uint)_count) Sse.Prefetch0(visited + gathered[j]);
            for (int j = 0; j < m; j++)
            {
                if ((uint)gathered[j] >= (uint)_count) return ~touched;
                touched += Mark(visited, touchedSlots + touched, gathered[j]);
            }
        }
        return touched;
    }

    /// <summary>Re-scores the candidates kept on codes exactly in float32 into <paramref name="top"/>: cosine against the
    /// normalised query <paramref name="unitQuery"/>, inner product against <paramref name="query"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Rerank(ReadOnlySpan<int> candidateSlots, ReadOnlySpan<float> query, float* unitQuery, ref TopK top)
    {
        bool cosine = _header.Metric == (uint)Metric.Cosine;
        if (Sse.IsSupported)
        {
            // The float rows are scattered over Count x Dimensions x 4 bytes: issue all their loads before using any.
            int rowBytes = _dims * sizeof(float);
            for (int c = 0; c < candidateSlots.Length; c++)
            {
                int id = _slotItems[candidateSlots[c]];
                if ((uint)id >= (uint)_count) continue;
                byte* row = (byte*)(_vectors + (long)id * _dims);
                for (int b = 0; b < rowBytes; b += 64) Sse.Prefetch0(row + b);
            }
        }
        for (int c = 0; c < candidateSlots.Length; c++)
        {
            int id = _slotItems[candidateSlots[c]];
            if ((uint)id >= (uint)_count) throw Corrupt(_path, $"item id {id} out of range");
            float* v = _vectors + (long)id * _dims;
            float exact = cosine
                ? VectorMath.Dot(new ReadOnlySpan<float>(unitQuery, _dims), new ReadOnlySpan<float>(v, _dims)) * _inverseNorms[id]
                : VectorMath.Dot(query, new ReadOnlySpan<float>(v, _dims));
            top.Add(exact, id);
        }
    }

    /// <summary>
    /// One step down from node <paramref name="reference"/> (reached at <paramref name="priority"/>): returns the child on
    /// the query's side and queues the other at the priority of its cell.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int Descend(int reference, float priority, float queryScale, short* qCodes, ref NodeQueue queue, float stopScale, float bestPossible,
        float stopCut)
    {
        if (reference >= _nodeCount) throw Corrupt(_path, $"node reference {reference} out of range");
        byte* node = _nodes + (long)reference * _nodeStride;
        var tail = (NodeTail*)(node + _padded);
        float margin = tail->Scale * queryScale * VectorMath.DotInt8Int16((sbyte*)node, qCodes, _padded) + tail->Offset;
        int near, far;
        if (margin > 0f) { near = tail->Right; far = tail->Left; }
        else { near = tail->Left; far = tail->Right; }
        // Preorder numbering makes children larger than parents: this bounds descents even in a damaged file.
        if ((near >= 0 && near <= reference) || (far >= 0 && far <= reference)) throw Corrupt(_path, $"node {reference} has a child that does not follow it");
        // A subtree the early stop already rules out would never be popped (the cut only rises): not queued, which keeps
        // the heap to the cells still in play (about 60% of pushes at 1M x 64 dot were such).
        float farKey = priority - margin * margin;
        if (!Hopeless(farKey, stopScale, bestPossible, stopCut) && !queue.Push(farKey, far)) throw Corrupt(_path, "node queue overflow (shared subtrees)");
        return near;
    }

    /// <summary>The early stop's rule: true when a cell of priority <paramref name="key"/> is unlikely to hold an item
    /// above <paramref name="stopCut"/> (score units; -inf while the stop does not apply).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Hopeless(float key, float stopScale, float bestPossible, float stopCut) => bestPossible * (1f + stopScale * key) < stopCut;

    private void RequireVectors()
    {
        if (_vectors == null) throw new InvalidOperationException($"{_path} was built with external vectors and opened without them: it can be verified, not searched.");
    }

    private int SlotOf(int id)
    {
        int slot = _idSlots[id];
        if ((uint)slot >= (uint)_count) throw Corrupt(_path, $"slot {slot} of item {id} out of range");
        return slot;
    }


    /// <summary>Max-heap of (priority, node reference) over pooled arrays.</summary>
    private ref struct NodeQueue(float* keys, int* refs, int capacity)
    {
        public int Count;

        /// <summary>The largest key (the next to pop); only while Count > 0.</summary>
        public readonly float TopKey => keys[0];

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public bool Push(float key, int reference)
        {
            if (Count >= capacity) return false;
            int i = Count++;
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!(keys[parent] < key)) break;
                keys[i] = keys[parent];
                refs[i] = refs[parent];
                i = parent;
            }
            keys[i] = key;
            refs[i] = reference;
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Pop(out float key, out int reference)
        {
            key = keys[0];
            reference = refs[0];
            int n = --Count;
            float lastKey = keys[n];
            int lastRef = refs[n];
            int i = 0;
            while (true)
            {
                int child = 2 * i + 1;
                if (child >= n) break;
                if (child + 1 < n && keys[child + 1] > keys[child]) child++;
                if (!(keys[child] > lastKey)) break;
                keys[i] = keys[child];
                refs[i] = refs[child];
                i = child;
            }
            keys[i] = lastKey;
            refs[i] = lastRef;
        }
    }

    /// <summary>
    /// One thread's query buffers, pinned (allocated on the pinned object heap) so the hot loop uses raw pointers.
    /// They grow to the largest index and k the thread has seen; the visited map is always left all-zero.
    /// </summary>
    private sealed class SearchScratch
    {
        [ThreadStatic] private static SearchScratch? t_current;

        private byte[] _visited = [];
        private int[] _touched = [];
        private float[] _query = [];
        private short[] _queryCodes = [];
        private float[] _queueKeys = [];
        private int[] _queueRefs = [];
        private float[] _candidateScores = [];
        private int[] _candidateIds = [];
        private float[] _topScores = [];
        private int[] _topIds = [];

        public byte* Visited;
        public int* Touched;
        public float* Query;
        public short* QueryCodes;
        public float* QueueKeys;
        public int* QueueRefs;
        public float* CandidateScores;
        public int* CandidateIds;
        public float* TopScores;
        public int* TopIds;

        public static SearchScratch Get(int count, int queueCapacity, int padded, int rerank, int k)
        {
            var s = t_current ??= new SearchScratch();
            s.Ensure(ref s._visited, count, ref s.Visited);
            s.Ensure(ref s._touched, count + 1, ref s.Touched); // + 1: a leaf scan writes one slot past its last new one
            s.Ensure(ref s._query, padded, ref s.Query);
            s.Ensure(ref s._queryCodes, padded, ref s.QueryCodes);
            s.Ensure(ref s._queueKeys, queueCapacity, ref s.QueueKeys);
            s.Ensure(ref s._queueRefs, queueCapacity, ref s.QueueRefs);
            s.Ensure(ref s._candidateScores, CandidatePool.PaddedLength(rerank), ref s.CandidateScores);
            s.Ensure(ref s._candidateIds, rerank, ref s.CandidateIds);
            s.Ensure(ref s._topScores, k, ref s.TopScores);
            s.Ensure(ref s._topIds, k, ref s.TopIds);
            return s;
        }

        private void Ensure<T>(ref T[] array, int length, ref T* pointer) where T : unmanaged
        {
            if (array.Length >= length) return;
            array = GC.AllocateArray<T>(Math.Max(length, 16), pinned: true);
            pointer = (T*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(array));
        }
    }
}
