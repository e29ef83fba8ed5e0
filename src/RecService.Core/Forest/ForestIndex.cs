using System.Runtime.CompilerServices;
using Microsoft.Win32.SafeHandles;
using RecService.Core.Bundle;
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
public sealed unsafe partial class ForestIndex : IDisposable
{
    private readonly string _path;
    private readonly MappedFile _file;
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
    private readonly ForestSearchOptions _defaults;
    private int _disposed;

    private ForestIndex(string path, MappedFile file, in ForestHeader header, float* external)
    {
        _path = path;
        _file = file;
        _handle = file.ViewHandle;
        _base = file.Pointer;
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
        _defaults = header.TunedSearchK > 0
            ? ForestSearchOptions.For(Metric) with { SearchK = (int)header.TunedSearchK, StopSlack = header.TunedStopSlack }
            : ForestSearchOptions.For(Metric);
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

    /// <summary>The search options a query gets for fields it leaves negative: <see cref="ForestSearchOptions.For"/> this
    /// index's metric, with the search size measured at build when it was tuned (<see cref="ForestTuning"/>).</summary>
    public ForestSearchOptions DefaultOptions => _defaults;
    /// <summary>Recall@10 the tuned search size reached on the build's tuning queries; 0 when the index was not tuned.</summary>
    public float TunedRecall => _header.TunedSearchK > 0 ? _header.TunedRecall : 0;

    /// <summary>The re-rank floor of a full scan: 2k (20) matched 32 on the benchmark sets, but with a full scan of harder
    /// (isotropic) data it let a near-tie at rank 10 slip past the cut, and a full scan is asked for to be exact.</summary>
    public const int ExhaustiveRerankCount = 32;

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
    /// <summary>Starts loading item <paramref name="item"/>'s 1 / |y| (a hint: out of range is ignored, and a prefetch
    /// never faults).</summary>
    public void PrefetchInverseNorm(int item)
    {
        if (System.Runtime.Intrinsics.X86.Sse.IsSupported && (uint)item < (uint)_count) System.Runtime.Intrinsics.X86.Sse.Prefetch0(_inverseNorms + item);
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
        _file.Dispose();
    }
}
