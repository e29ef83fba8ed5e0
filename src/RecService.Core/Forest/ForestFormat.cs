using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecService.Core.Forest;

/// <summary>The sections of a forest file, in the order their offsets appear in the header. See FORMAT.md.</summary>
/// <remarks>
/// Items live in two numberings. The <em>id</em> is the caller's row number. The <em>slot</em> is the item's position in
/// tree 0's leaf order. The first CodedTrees trees carry their own copy of the codes in leaf order (contiguous scans);
/// the others score their leaves from tree 0's block, indexed by slot (scattered, prefetched). See FORMAT.md.
/// </remarks>
internal enum ForestSection
{
    Vectors = 0,       // float32 [Count x Dimensions] by id: the original vectors, served by ForestIndex.GetVector and used to re-rank.
    InverseNorms = 1,  // float32 [Count] by id: 1/|y| (0 for a zero vector), turns q̂·y into a cosine.
    SlotItems = 2,     // int32 [Count]: slot -> id.
    IdSlots = 3,       // int32 [Count]: id -> slot (exclusions and query-by-item arrive as ids).
    LeafScales = 4,    // float32 [CodedTrees x Count] by position: int8 code scale (score ≈ scale * Σ code * q).
    LeafCodes = 5,     // int8 [CodedTrees x Count x PaddedDimensions] by position: the scoring vector (y/|y| for cosine,
                       // y for dot), quantized. Tree 0's block is in slot order, so it doubles as the by-slot code array.
    Roots = 6,         // int32 [Trees]: node reference of each tree's root.
    Nodes = 7,         // node records [NodeCount], stride NodeStride.
    Leaves = 8,        // LeafRecord [LeafCount].
    LeafSlots = 9,     // int32 [Trees x Count]: slots, each tree's leaves back to back in leaf order.
}

/// <summary>
/// The fixed 256-byte header at offset 0. Sequential layout with every field naturally aligned, so the struct is read
/// straight from the mapped view with no parsing; all integers are little-endian (big-endian hosts are refused).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8, Size = ForestHeader.Size)]
internal unsafe struct ForestHeader
{
    public const int Size = 256;
    public const int SectionCount = 10;
    /// <summary>"RECFRST" then 0x1A (stops `type`/`cat` on a terminal, as PNG's magic does).</summary>
    public const ulong MagicValue = 0x1A_5453_5246_4345_52UL;
    public const uint CurrentVersion = 1;
    /// <summary>The Vectors section is empty: the reader is handed the Count x Dimensions float32 vectors by id (a bundle
    /// keeps them once, in its factor matrix, instead of once more per forest).</summary>
    public const uint ExternalVectorsFlag = 1;
    /// <summary>Sections start on 64-byte boundaries: a cache line, and the widest vector load (AVX-512) never splits one.</summary>
    public const int Alignment = 64;

    public ulong Magic;
    public uint FormatVersion;
    public uint HeaderSize;
    public uint Metric;
    public uint Dimensions;
    /// <summary>Dimensions rounded up to 16: the stride of a code row and of a node's normal codes, so the SIMD kernel
    /// never needs a tail loop.</summary>
    public uint PaddedDimensions;
    public uint Count;
    public uint Trees;
    public uint LeafSize;
    public uint NodeCount;
    public uint LeafCount;
    /// <summary>Dot metric: the largest item norm M of the MIPS transform (informational; queries do not need it).</summary>
    public float MaxNorm;
    /// <summary>Trees 0..CodedTrees-1 have their leaves' codes stored contiguously in leaf order; 1..Trees.</summary>
    public uint CodedTrees;
    public ulong Seed;
    public ulong FileLength;
    /// <summary>Offset, length pairs (bytes) of each <see cref="ForestSection"/>.</summary>
    public fixed ulong Sections[SectionCount * 2];
    /// <summary>CRC-32C of bytes [HeaderSize, FileLength): checked by ForestIndex.Verify, not at open (open is O(1)).</summary>
    public uint BodyCrc;
    /// <summary><see cref="ExternalVectorsFlag"/> or 0; other bits are refused.</summary>
    public uint Flags;
    /// <summary>The search size measured at build to reach <see cref="TunedRecall"/> on the index's real queries
    /// (<see cref="ForestTuning"/>); 0 = not tuned, the metric's default applies.</summary>
    public uint TunedSearchK;
    /// <summary>Recall@10 at <see cref="TunedSearchK"/> on the tuning queries (0 when not tuned).</summary>
    public float TunedRecall;
    /// <summary>The early-stop slack tuned with <see cref="TunedSearchK"/> (0 = off); read only when that is set.</summary>
    public float TunedStopSlack;
    /// <summary>CRC-32C of the 256 header bytes with this field zero: checked at every open.</summary>
    public uint HeaderCrc;

    public readonly ulong SectionOffset(ForestSection s) => Sections[(int)s * 2];
    public readonly ulong SectionLength(ForestSection s) => Sections[(int)s * 2 + 1];

    public void SetSection(ForestSection s, ulong offset, ulong length)
    {
        Sections[(int)s * 2] = offset;
        Sections[(int)s * 2 + 1] = length;
    }

    /// <summary>A node is its int8 normal (PaddedDimensions bytes) then a <see cref="NodeTail"/>: 80 bytes at 64 dimensions,
    /// so the split records of a tree stay cache-resident.</summary>
    public static int NodeStride(int paddedDimensions) => paddedDimensions + 16;
}

/// <summary>
/// One split: the int8 codes of its unit normal (PaddedDimensions bytes, zero past Dimensions) followed by this tail.
/// The builder partitions items with the dequantized normal, so items and queries see the same hyperplane.
/// A child reference c ≥ 0 is an internal node, c &lt; 0 is leaf ~c. Nodes are numbered in preorder, so a valid
/// internal child always has a larger number than its parent: the reader relies on that to bound every descent.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct NodeTail
{
    public float Scale;    // normal ≈ Scale * codes.
    public float Offset;   // margin = normal·q + Offset; margin > 0 goes Right.
    public int Left;
    public int Right;
}

/// <summary>A leaf: a range of positions in LeafSlots.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct LeafRecord
{
    public int Start;
    public int Length;
}

/// <summary>CRC-32C (Castagnoli), hardware-accelerated through <see cref="BitOperations.Crc32C(uint, ulong)"/>.</summary>
internal static class Crc32C
{
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        crc = ~crc;
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong w in words) crc = BitOperations.Crc32C(crc, w);
        foreach (byte b in data[(words.Length * 8)..]) crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }

    public static uint HeaderCrc(ForestHeader header)
    {
        header.HeaderCrc = 0;
        return Append(0, MemoryMarshal.AsBytes(new ReadOnlySpan<ForestHeader>(ref header)));
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    public static unsafe uint Append(uint crc, byte* data, long length)
    {
        const int Chunk = 1 << 30;
        while (length > 0)
        {
            int n = (int)Math.Min(length, Chunk);
            crc = Append(crc, new ReadOnlySpan<byte>(data, n));
            data += n;
            length -= n;
        }
        return crc;
    }
}
