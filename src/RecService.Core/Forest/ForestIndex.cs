using System.IO.MemoryMappedFiles;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Microsoft.Win32.SafeHandles;
using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>
/// The float32 vectors of a forest built with <see cref="ForestOptions.ExternalVectors"/>: Rows x Columns, row-major by
/// item id, at a fixed address (a memory-mapped matrix) that stays valid for as long as the index is queried.
/// </summary>
public readonly unsafe struct ExternalVectors(float* data, int rows, int columns)
{
    public float* Data { get; } = data;
    public int Rows { get; } = rows;
    public int Columns { get; } = columns;
}

/// <summary>
/// A forest file (see FORMAT.md) mapped read-only. Opening reads and checks the 256-byte header and the section table
/// only, so it costs the same for any size; the OS pages the rest in as queries touch it, and replicas mapping the same
/// file share its pages. Every index that comes out of the file during a query (child, leaf, position, item id) is
/// checked against bounds fixed at open before it is used, so a damaged file raises <see cref="InvalidDataException"/>
/// and never reads outside the mapping; <see cref="Verify"/> checks everything up front (checksum included) for callers
/// that prefer to pay O(size) once.
/// <para>Queries are thread-safe and allocate nothing: each thread reuses its own pooled buffers.</para>
/// </summary>
public sealed unsafe class ForestIndex : IDisposable
{
    private readonly string _path;
    private readonly MemoryMappedFile _file;
    private readonly MemoryMappedViewAccessor _view;
    private readonly SafeMemoryMappedViewHandle _handle;
    private readonly ForestHeader _header;
    private readonly byte* _base;
    private readonly float* _vectors;
    private readonly float* _inverseNorms;
    private readonly int* _slotItems;
    private readonly int* _idSlots;
    private readonly float* _leafScales;
    private readonly sbyte* _leafCodes;
    private readonly long _codedPositions; // CodedTrees x Count: positions below this have their codes in leaf order.
    private readonly int* _roots;
    private readonly byte* _nodes;
    private readonly LeafRecord* _leaves;
    private readonly int* _leafSlots;
    private readonly int _count, _dims, _padded, _trees, _nodeCount, _leafCount, _nodeStride;
    private readonly long _positions; // Trees x Count: valid positions in LeafSlots.
    private int _disposed;

    /// <summary>How many leaf entries ahead the scan prefetches codes: about the number of code loads a core keeps in flight.</summary>
    private const int PrefetchDistance = 8;

    private ForestIndex(string path, MemoryMappedFile file, MemoryMappedViewAccessor view, byte* basePointer, in ForestHeader header, float* external)
    {
        _path = path;
        _file = file;
        _view = view;
        _handle = view.SafeMemoryMappedViewHandle;
        _base = basePointer;
        _header = header;
        _count = (int)header.Count;
        _dims = (int)header.Dimensions;
        _padded = (int)header.PaddedDimensions;
        _trees = (int)header.Trees;
        _nodeCount = (int)header.NodeCount;
        _leafCount = (int)header.LeafCount;
        _nodeStride = ForestHeader.NodeStride(_padded);
        _positions = (long)_trees * _count;
        _vectors = (header.Flags & ForestHeader.ExternalVectorsFlag) != 0 ? external : (float*)Section(ForestSection.Vectors);
        _inverseNorms = (float*)Section(ForestSection.InverseNorms);
        _slotItems = (int*)Section(ForestSection.SlotItems);
        _idSlots = (int*)Section(ForestSection.IdSlots);
        _leafScales = (float*)Section(ForestSection.LeafScales);
        _leafCodes = (sbyte*)Section(ForestSection.LeafCodes);
        _codedPositions = (long)header.CodedTrees * _count;
        _roots = (int*)Section(ForestSection.Roots);
        _nodes = Section(ForestSection.Nodes);
        _leaves = (LeafRecord*)Section(ForestSection.Leaves);
        _leafSlots = (int*)Section(ForestSection.LeafSlots);
        DefaultSearchK = Metric == Metric.Dot ? 1500 : 6000;
        RerankCount = Metric == Metric.Dot ? 20 : ExhaustiveRerankCount;
    }

    private byte* Section(ForestSection s) => _base + _header.SectionOffset(s);

    public string Path => _path;
    public Metric Metric => (Metric)_header.Metric;
    public int Count => _count;
    /// <summary>True when the file leaves its float32 vectors to the caller (<see cref="ForestOptions.ExternalVectors"/>).</summary>
    public bool VectorsExternal => (_header.Flags & ForestHeader.ExternalVectorsFlag) != 0;
    public int Dimensions => _dims;
    public int Trees => _trees;
    public int LeafSize => (int)_header.LeafSize;
    public long FileBytes => (long)_header.FileLength;

    /// <summary>Most candidates scored (on int8 codes) per query when a caller passes searchK = -1; with the default early
    /// stop most queries end sooner. The defaults (6000 cosine, 1500 dot, with <see cref="DefaultStopSlack"/>) reach
    /// recall@10 of 0.967 (cosine) and 0.976 (dot) on the benchmark's ALS-like 200k x 64 data and 0.957 (dot) on 1M x 64;
    /// measure a real model with <c>rec index bench</c> and set this from the sweep.</summary>
    public int DefaultSearchK { get; set; }

    /// <summary>The early stop used when a caller passes stopSlack = -1 (see <see cref="Search"/>). 28 was tuned on the
    /// benchmark sets: at 1M x 64 (dot) it reached recall 0.958 in 11 µs where searchK alone needed 14 µs for 0.953.</summary>
    public float DefaultStopSlack { get; set; } = 28f;

    /// <summary>How many of the best code-scored candidates are re-scored exactly in float32 (at least 2k are); a search
    /// of searchK >= Count re-scores at least <see cref="ExhaustiveRerankCount"/>. Defaults: 20 for dot, 32 for cosine.
    /// At 1M x 64 (dot, search-k 1500) 20 was 9% faster than 32 for recall@10 0.957 against 0.958 (the pool's cut
    /// rises sooner, so fewer candidates enter and the early stop comes earlier), and 20 at search-k 1700 beat 32 at
    /// 1500 on both speed and recall; on 200k x 64 cosine 20 lost 0.002 of recall for 9%, a wash on the frontier.</summary>
    public int RerankCount { get; set; }

    /// <summary>The re-rank floor of a full scan: 2k (20) matched 32 on the benchmark sets, but with a full scan of harder
    /// (isotropic) data it let a near-tie at rank 10 slip past the cut, and a full scan is asked for to be exact.</summary>
    public const int ExhaustiveRerankCount = 32;

    [ThreadStatic] private static int t_lastScored;

    /// <summary>Distinct items the calling thread's last query scored on codes (for metrics and benchmarks).</summary>
    public static int LastSearchScored => t_lastScored;

    /// <summary>
    /// Opens and maps a forest file. Checks, in O(1): magic, version, header checksum, metric and sizes, that the file
    /// length matches the header (so truncation is caught), and that every section is 64-byte aligned, inside the file,
    /// exactly as long as the counts imply, and disjoint from the others. A file built with external vectors takes them
    /// in <paramref name="vectors"/> (ignored for a file that holds its own); opened without them it can be verified but
    /// not searched.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a forest file, or is truncated or damaged.</exception>
    /// <exception cref="ArgumentException">The external vectors are not Count x Dimensions.</exception>
    public static ForestIndex Open(string path, ExternalVectors? vectors = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Forest files are little-endian; big-endian hosts are not supported.");
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, FileOptions.RandomAccess);
        MemoryMappedFile? file = null;
        MemoryMappedViewAccessor? view = null;
        bool acquired = false;
        try
        {
            long length = stream.Length;
            if (length < ForestHeader.Size) throw Corrupt(path, $"file is {length} bytes, shorter than the {ForestHeader.Size}-byte header");
            file = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            view = file.CreateViewAccessor(0, length, MemoryMappedFileAccess.Read);
            byte* pointer = null;
            view.SafeMemoryMappedViewHandle.AcquirePointer(ref pointer);
            acquired = true;
            pointer += view.PointerOffset;
            var header = Unsafe.ReadUnaligned<ForestHeader>(pointer);
            ValidateHeader(path, in header, length);
            float* external = null;
            if ((header.Flags & ForestHeader.ExternalVectorsFlag) != 0 && vectors is { } v)
            {
                if (v.Rows != header.Count || v.Columns != header.Dimensions || v.Data == null)
                    throw new ArgumentException($"{path}: the forest holds {header.Count} x {header.Dimensions} vectors; it was handed {v.Rows} x {v.Columns}.", nameof(vectors));
                external = v.Data;
            }
            return new ForestIndex(path, file, view, pointer, in header, external);
        }
        catch
        {
            if (acquired) view!.SafeMemoryMappedViewHandle.ReleasePointer();
            view?.Dispose();
            if (file is not null) file.Dispose(); else stream.Dispose();
            throw;
        }
    }

    private static void ValidateHeader(string path, in ForestHeader h, long fileLength)
    {
        if (h.Magic != ForestHeader.MagicValue) throw Corrupt(path, "not a forest index (bad magic)");
        if (h.FormatVersion != ForestHeader.CurrentVersion) throw Corrupt(path, $"format version {h.FormatVersion}; this build reads version {ForestHeader.CurrentVersion}");
        if (h.HeaderSize != ForestHeader.Size) throw Corrupt(path, $"header size {h.HeaderSize}, expected {ForestHeader.Size}");
        if (Crc32C.HeaderCrc(h) != h.HeaderCrc) throw Corrupt(path, "header checksum mismatch (damaged header)");
        if (h.FileLength != (ulong)fileLength)
            throw Corrupt(path, h.FileLength > (ulong)fileLength ? $"truncated: header says {h.FileLength} bytes, file has {fileLength}" : $"header says {h.FileLength} bytes, file has {fileLength}");
        if (h.Metric is not ((uint)Metric.Cosine or (uint)Metric.Dot)) throw Corrupt(path, $"unknown metric {h.Metric}");
        if ((h.Flags & ~ForestHeader.ExternalVectorsFlag) != 0) throw Corrupt(path, $"unknown flags 0x{h.Flags:x}");
        if (h.Dimensions is < 1 or > VectorMath.MaxQuantizedDimensions) throw Corrupt(path, $"dimensions {h.Dimensions} out of range");
        if (h.PaddedDimensions != (uint)VectorMath.RoundUp((int)h.Dimensions, 16)) throw Corrupt(path, $"padded dimensions {h.PaddedDimensions} do not match {h.Dimensions}");
        if (h.Count is < 1 or > int.MaxValue) throw Corrupt(path, $"item count {h.Count} out of range");
        if (h.Trees is < 1 or > 1024) throw Corrupt(path, $"tree count {h.Trees} out of range");
        ulong positions = (ulong)h.Trees * h.Count;
        if (positions > int.MaxValue) throw Corrupt(path, "trees x count exceeds the format's int32 positions");
        // A tree over n items has at most n leaves and n - 1 splits.
        if (h.LeafCount < h.Trees || h.LeafCount > positions) throw Corrupt(path, $"leaf count {h.LeafCount} out of range");
        if (h.NodeCount > positions) throw Corrupt(path, $"node count {h.NodeCount} out of range");

        ulong count = h.Count, padded = h.PaddedDimensions;
        Span<ulong> expected = stackalloc ulong[ForestHeader.SectionCount];
        expected[(int)ForestSection.Vectors] = (h.Flags & ForestHeader.ExternalVectorsFlag) != 0 ? 0 : count * h.Dimensions * sizeof(float);
        expected[(int)ForestSection.InverseNorms] = count * sizeof(float);
        expected[(int)ForestSection.SlotItems] = count * sizeof(int);
        expected[(int)ForestSection.IdSlots] = count * sizeof(int);
        if (h.CodedTrees < 1 || h.CodedTrees > h.Trees) throw Corrupt(path, $"coded tree count {h.CodedTrees} out of range");
        expected[(int)ForestSection.LeafScales] = (ulong)h.CodedTrees * count * sizeof(float);
        expected[(int)ForestSection.LeafCodes] = (ulong)h.CodedTrees * count * padded;
        expected[(int)ForestSection.Roots] = (ulong)h.Trees * sizeof(int);
        expected[(int)ForestSection.Nodes] = (ulong)h.NodeCount * (ulong)ForestHeader.NodeStride((int)padded);
        expected[(int)ForestSection.Leaves] = (ulong)h.LeafCount * (ulong)sizeof(LeafRecord);
        expected[(int)ForestSection.LeafSlots] = positions * sizeof(int);
        Span<ulong> starts = stackalloc ulong[ForestHeader.SectionCount];
        Span<ulong> ends = stackalloc ulong[ForestHeader.SectionCount];
        for (int s = 0; s < ForestHeader.SectionCount; s++)
        {
            ulong offset = h.SectionOffset((ForestSection)s), length = h.SectionLength((ForestSection)s);
            var name = (ForestSection)s;
            if (length != expected[s]) throw Corrupt(path, $"section {name} is {length} bytes, expected {expected[s]}");
            if (offset % ForestHeader.Alignment != 0) throw Corrupt(path, $"section {name} offset {offset} is not {ForestHeader.Alignment}-byte aligned");
            if (offset < ForestHeader.Size || offset > h.FileLength || length > h.FileLength - offset)
                throw Corrupt(path, $"section {name} [{offset}, +{length}) lies outside the file");
            starts[s] = offset;
            ends[s] = offset + length;
        }
        for (int a = 0; a < ForestHeader.SectionCount; a++)
            for (int b = a + 1; b < ForestHeader.SectionCount; b++)
                if (starts[a] < ends[b] && starts[b] < ends[a]) throw Corrupt(path, $"sections {(ForestSection)a} and {(ForestSection)b} overlap");
    }

    /// <summary>
    /// Full check, O(file size): the body checksum, then every root, child, leaf range and item id. After it passes,
    /// the file is exactly what the builder wrote.
    /// </summary>
    public void Verify()
    {
        AddRef();
        try
        {
            long bodyLength = (long)_header.FileLength - _header.HeaderSize;
            uint crc = Crc32C.Append(0, _base + _header.HeaderSize, bodyLength);
            if (crc != _header.BodyCrc) throw Corrupt(_path, "body checksum mismatch (damaged data)");
            for (int t = 0; t < _trees; t++) CheckReference(_roots[t], -1);
            for (int n = 0; n < _nodeCount; n++)
            {
                ref readonly var tail = ref Tail(n);
                CheckReference(tail.Left, n);
                CheckReference(tail.Right, n);
            }
            for (int l = 0; l < _leafCount; l++) CheckLeaf(_leaves[l]);
            for (long p = 0; p < _positions; p++)
                if ((uint)_leafSlots[p] >= (uint)_count) throw Corrupt(_path, $"slot {_leafSlots[p]} at position {p} out of range");
            // SlotItems and IdSlots must be inverse permutations.
            for (int slot = 0; slot < _count; slot++)
            {
                int id = _slotItems[slot];
                if ((uint)id >= (uint)_count || _idSlots[id] != slot) throw Corrupt(_path, $"slot {slot} and id {id} do not map to each other");
            }
        }
        finally { Release(); }
    }

    private void CheckReference(int reference, int parent)
    {
        if (reference >= 0)
        {
            if (reference >= _nodeCount || reference <= parent) throw Corrupt(_path, $"node {parent} has bad child {reference}");
        }
        else if ((uint)~reference >= (uint)_leafCount) throw Corrupt(_path, $"node {parent} has bad leaf {~reference}");
    }

    private void CheckLeaf(in LeafRecord leaf)
    {
        if (leaf.Start < 0 || leaf.Length < 0 || (long)leaf.Start + leaf.Length > _positions) throw Corrupt(_path, $"leaf range [{leaf.Start}, +{leaf.Length}) out of range");
    }

    /// <summary>Item <paramref name="item"/>'s original float32 vector, straight from the mapping (no copy). Valid until
    /// <see cref="Dispose"/>: do not keep the span past the index's lifetime.</summary>
    public ReadOnlySpan<float> GetVector(int item)
    {
        if ((uint)item >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(item), item, $"Item must be in [0, {_count}).");
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        RequireVectors();
        return new ReadOnlySpan<float>(_vectors + (long)item * _dims, _dims);
    }

    /// <summary>1 / |y| of item <paramref name="item"/>'s vector (0 for a zero vector), as stored: cosine against a
    /// known item without recomputing its norm.</summary>
    public float InverseNorm(int item)
    {
        if ((uint)item >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(item), item, $"Item must be in [0, {_count}).");
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        return _inverseNorms[item];
    }

    /// <summary>
    /// The k items scoring highest against <paramref name="query"/>: cosine for a cosine index, inner product for a dot
    /// index. Writes them best first into <paramref name="ids"/>/<paramref name="scores"/> and returns how many (k unless
    /// fewer than k items are left after exclusions, or the spans are shorter than k).
    /// </summary>
    /// <param name="searchK">Candidates to score on codes before stopping; -1 uses <see cref="DefaultSearchK"/>. More is
    /// slower and more accurate.</param>
    /// <param name="excluded">Item ids never to return (already played, thumbs-down), in any order; ids outside the index are ignored.
    /// Excluded items do not count towards searchK, and the search goes on until it has k results.</param>
    /// <param name="stopSlack">Early stop: the search also ends once the best queued cell looks unable to beat the
    /// candidates kept (step 4 of FORMAT.md's query walk-through); larger stops sooner. 0 turns it off (searchK alone
    /// decides), -1 uses <see cref="DefaultStopSlack"/>. A searchK of Count or more always scans everything.</param>
    public int Search(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, int searchK = -1, ReadOnlySpan<int> excluded = default,
        float stopSlack = -1)
    {
        if (query.Length != _dims) throw new ArgumentException($"Query has {query.Length} dimensions; the index has {_dims}.", nameof(query));
        return SearchCore(query, k, ids, scores, searchK, excluded, -1, stopSlack);
    }

    /// <summary>Items most similar to item <paramref name="item"/> (by its stored vector), never the item itself.</summary>
    public int SearchByItem(int item, int k, Span<int> ids, Span<float> scores, int searchK = -1, ReadOnlySpan<int> excluded = default,
        float stopSlack = -1)
    {
        if ((uint)item >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(item), item, $"Item must be in [0, {_count}).");
        RequireVectors();
        AddRef();
        try { return SearchCore(new ReadOnlySpan<float>(_vectors + (long)item * _dims, _dims), k, ids, scores, searchK, excluded, item, stopSlack); }
        finally { Release(); }
    }

    private int SearchCore(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, int searchK, ReadOnlySpan<int> excluded, int selfId,
        float stopSlack)
    {
        k = Math.Min(k, Math.Min(ids.Length, scores.Length));
        if (k <= 0) return 0;
        RequireVectors(); // the exact re-rank reads them
        if (searchK < 0) searchK = DefaultSearchK;
        if (stopSlack < 0) stopSlack = DefaultStopSlack;
        if (searchK >= _count || !float.IsFinite(stopSlack)) stopSlack = 0; // asked to scan everything: no early stop
        // Slack above k: codes misorder near-ties.
        int rerank = Math.Max(2 * k, searchK >= _count ? Math.Max(RerankCount, ExhaustiveRerankCount) : RerankCount);
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
                    if ((uint)gathered[j] >= (uint)_count) throw Corrupt(_path, $"slot {gathered[j]} of an excluded item out of range");
                    touched += Mark(visited, touchedSlots + touched, gathered[j]);
                }
            }
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
            bool wide = padded == 64 && Avx512BW.IsSupported;
            var dot64 = wide ? new Dot64(qCodes) : default;
            var dotPadded = new DotPadded(qCodes, padded);
            while (queue.Count > 0 && (scanned < searchK || candidates.Count < k))
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
                int added = wide
                    ? leafOrdered
                        ? ScanLeaf(leafSlots, leaf.Length, (uint)_count, visited, touchedOut, _slotItems, dot64, ordered, ref candidates, ref threshold)
                        : ScanLeaf(leafSlots, leaf.Length, (uint)_count, visited, touchedOut, _slotItems, dot64, scattered, ref candidates, ref threshold)
                    : leafOrdered
                        ? ScanLeaf(leafSlots, leaf.Length, (uint)_count, visited, touchedOut, _slotItems, dotPadded, ordered, ref candidates, ref threshold)
                        : ScanLeaf(leafSlots, leaf.Length, (uint)_count, visited, touchedOut, _slotItems, dotPadded, scattered, ref candidates, ref threshold);
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
            var candidateSlots = candidates.Slots;
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
                    ? VectorMath.Dot(new ReadOnlySpan<float>(q, _dims), new ReadOnlySpan<float>(v, _dims)) * _inverseNorms[id]
                    : VectorMath.Dot(query, new ReadOnlySpan<float>(v, _dims));
                top.Add(exact, id);
            }
            int n = top.SortDescending();
            t_lastScored = scanned;
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

    /// <summary>Sets a slot's visited flag; returns 1 (and records the slot for clearing) if it was not set.</summary>
    private static int Mark(byte* visited, int* touchedOut, int slot)
    {
        if (visited[slot] != 0) return 0;
        visited[slot] = 1;
        *touchedOut = slot;
        return 1;
    }

    /// <summary>
    /// Scores a leaf's unvisited items on their int8 codes and offers those above the cut to the candidate pool.
    /// Static with every pointer passed in, so the loop keeps them in registers; generic over the code layout and the
    /// kernel so each pairing compiles to its own loop. Returns how many slots it marked visited (appended at
    /// <paramref name="touchedOut"/>, which has room for one more), or, on a slot out of range, the bitwise complement
    /// of that count.
    /// </summary>
    /// <remarks>
    /// No branch depends on the data per item: whether a slot was visited and whether its score enters the pool are
    /// both unpredictable (about a fifth of a leaf's slots were seen in another tree; about one score in seven enters),
    /// and as branches their mispredictions cost more than scoring the visited items for nothing. So every item is
    /// scored into a 64-entry buffer with its "new" flag in a bit mask, and a vector compare against the cut picks the
    /// few to offer. Measured at 1M x 64 (dot, search-k 1000): 11% more queries per second than branching per item.
    /// </remarks>
    [SkipLocalsInit]
    private static int ScanLeaf<TDot, TCodes>(int* slots, int length, uint count, byte* visited, int* touchedOut, int* slotItems, TDot dot, TCodes codes,
        ref CandidatePool candidates, ref float threshold)
        where TDot : struct, ICodeDot
        where TCodes : struct, ILeafCodes
    {
        const int Chunk = 64; // one ulong of "new" flags
        float* approx = stackalloc float[Chunk];
        codes.Begin(slots, length, count);
        int marked = 0;
        float limit = threshold;
        for (int start = 0; start < length; start += Chunk)
        {
            int n = Math.Min(Chunk, length - start);
            int* chunk = slots + start;
            ulong fresh = 0;
            for (int i = 0; i < n; i++)
            {
                int slot = chunk[i];
                if ((uint)slot >= count) return ~marked;
                codes.Ahead(slots, start + i, length, count);
                // A byte per slot, not a bit: neighbouring slots of a leaf share a 64-bit word, and a read-modify-write
                // of that word had to wait for the previous item's store (+3-6% q/s at 1M x 64 dot, +6-12% at 200k).
                ulong isNew = (uint)(visited[slot] ^ 1);
                visited[slot] = 1;
                touchedOut[marked] = slot; // kept only if new: the next slot overwrites it otherwise
                marked += (int)isNew;
                fresh |= isNew << i;
                approx[i] = codes.Scale(start + i, slot) * dot.Dot(codes.Row(start + i, slot));
            }
            for (ulong above = AboveMask(approx, n, limit) & fresh; above != 0; above &= above - 1)
            {
                int i = BitOperations.TrailingZeroCount(above);
                if (approx[i] > limit) // the cut rises as candidates enter
                {
                    candidates.Add(approx[i], chunk[i]);
                    limit = candidates.Threshold;
                    // The re-rank maps the pool's slots to ids: a candidate's entry is requested when it enters.
                    if (Sse.IsSupported) Sse.Prefetch0(slotItems + chunk[i]);
                }
            }
        }
        threshold = limit;
        return marked;
    }

    /// <summary>Bit i set when values[i] > limit, for i below n (at most 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AboveMask(float* values, int n, float limit)
    {
        ulong mask = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var cut = Vector256.Create(limit);
            for (; i + 8 <= n; i += 8) mask |= (ulong)Vector256.GreaterThan(Vector256.Load(values + i), cut).ExtractMostSignificantBits() << i;
        }
        for (; i < n; i++) mask |= (values[i] > limit ? 1UL : 0UL) << i;
        return mask;
    }

    /// <summary>The integer dot product of one item's int8 codes with the query's int16 codes.</summary>
    private interface ICodeDot
    {
        int Dot(sbyte* row);
    }

    /// <summary>64 dimensions on AVX-512: the query's 64 codes stay in two registers and a row is one cache line, read as
    /// two 32-code halves widened to int16 (the common case: ALS factors are 64 wide).</summary>
    private readonly struct Dot64(short* query) : ICodeDot
    {
        private readonly Vector512<short> _low = Vector512.Load(query), _high = Vector512.Load(query + 32);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Dot(sbyte* row) => Vector512.Sum(
            Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(row)), _low) +
            Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(row + 32)), _high));
    }

    /// <summary>Any padded width (a multiple of 16), on AVX2 or scalar.</summary>
    private readonly struct DotPadded(short* query, int padded) : ICodeDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Dot(sbyte* row) => VectorMath.DotInt8Int16(row, query, padded);
    }

    /// <summary>Where a leaf's codes and scales are: by position in the leaf (j) or by slot.</summary>
    private interface ILeafCodes
    {
        void Begin(int* slots, int length, uint count);
        void Ahead(int* slots, int j, int length, uint count);
        sbyte* Row(int j, int slot);
        float Scale(int j, int slot);
    }

    /// <summary>A coded tree's leaf: its codes and scales are in leaf order, read sequentially (the hardware prefetches them).</summary>
    private readonly struct LeafOrderedCodes(sbyte* codes, float* scales, int padded) : ILeafCodes
    {
        public void Begin(int* slots, int length, uint count) { }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Ahead(int* slots, int j, int length, uint count) { }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte* Row(int j, int slot) => codes + (long)j * padded;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Scale(int j, int slot) => scales[j];
    }

    /// <summary>Another tree's leaf: each item's codes are in tree 0's block by slot, scattered, so they are prefetched
    /// a few entries ahead.</summary>
    private readonly struct SlotOrderedCodes(sbyte* codes, float* scales, int padded) : ILeafCodes
    {
        public void Begin(int* slots, int length, uint count)
        {
            if (!Sse.IsSupported) return;
            for (int j = 0; j < length && j < PrefetchDistance; j++)
                if ((uint)slots[j] < count) Sse.Prefetch0(codes + (long)slots[j] * padded);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Ahead(int* slots, int j, int length, uint count)
        {
            if (!Sse.IsSupported || j + PrefetchDistance >= length) return;
            int ahead = slots[j + PrefetchDistance];
            if ((uint)ahead < count) Sse.Prefetch0(codes + (long)ahead * padded);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte* Row(int j, int slot) => codes + (long)slot * padded;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Scale(int j, int slot) => scales[slot];
    }

    private ref readonly NodeTail Tail(int node) => ref *(NodeTail*)(_nodes + (long)node * _nodeStride + _padded);

    private void AddRef()
    {
        // Keeps the mapping alive while a query runs, even if another thread disposes the index meanwhile.
        bool added = false;
        _handle.DangerousAddRef(ref added);
        if (!added) throw new ObjectDisposedException(nameof(ForestIndex));
    }

    private void Release() => _handle.DangerousRelease();

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static InvalidDataException Corrupt(string path, string what) => new($"{path}: corrupt forest index: {what}.");

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        _handle.ReleasePointer();
        _view.Dispose();
        _file.Dispose();
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
