using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecService.Core.Forest;

/// <summary>The sections of a forest file, in the order their offsets appear in the header. See FORMAT.md.</summary>
internal enum ForestSection
{
    Vectors = 0,       // float32 [Count x Dimensions], original item order: served as-is by ForestIndex.GetVector.
    InverseNorms = 1,  // float32 [Count]: 1/|y| (0 for a zero vector), turns q̂·y into a cosine without touching y twice.
    ItemScales = 2,    // float32 [Count]: int8 code scale of each item (score ≈ scale * Σ code*q).
    Roots = 3,         // int32 [Trees]: node reference of each tree's root.
    Nodes = 4,         // NodeRecord [NodeCount], stride NodeStride.
    Leaves = 5,        // LeafRecord [LeafCount].
    LeafItems = 6,     // int32 [Trees x Count]: item ids, each tree's leaves back to back in leaf order.
    LeafCodes = 7,     // int8 [Trees x Count x PaddedDimensions]: the same items' codes in the same order.
}

/// <summary>
/// The fixed 256-byte header at offset 0. Sequential layout with every field naturally aligned, so the struct is read
/// straight from the mapped view with no parsing; all integers are little-endian (big-endian hosts are refused).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 8, Size = ForestHeader.Size)]
internal unsafe struct ForestHeader
{
    public const int Size = 256;
    public const int SectionCount = 8;
    /// <summary>"RECFRST" then 0x1A (stops `type`/`cat` on a terminal, as PNG's magic does).</summary>
    public const ulong MagicValue = 0x1A_5453_5246_4345_52UL;
    public const uint CurrentVersion = 1;
    /// <summary>Sections start on 64-byte boundaries: a cache line, and the widest vector load (AVX-512) never splits one.</summary>
    public const int Alignment = 64;

    public ulong Magic;
    public uint FormatVersion;
    public uint HeaderSize;
    public uint Metric;
    public uint Dimensions;
    /// <summary>Dimensions rounded up to 16: the stride of a code row and the float length of a node normal, so the SIMD
    /// kernels never need a tail loop.</summary>
    public uint PaddedDimensions;
    public uint Count;
    public uint Trees;
    public uint LeafSize;
    public uint NodeCount;
    public uint LeafCount;
    /// <summary>Dot metric: the largest item norm M of the MIPS transform (informational; queries do not need it).</summary>
    public float MaxNorm;
    public uint Reserved0;
    public ulong Seed;
    public ulong FileLength;
    /// <summary>Offset, length pairs (bytes) of each <see cref="ForestSection"/>.</summary>
    public fixed ulong Sections[SectionCount * 2];
    /// <summary>CRC-32C of bytes [HeaderSize, FileLength): checked by ForestIndex.Verify, not at open (open is O(1)).</summary>
    public uint BodyCrc;
    public fixed uint Reserved[12];
    /// <summary>CRC-32C of the 256 header bytes with this field zero: checked at every open.</summary>
    public uint HeaderCrc;

    public readonly ulong SectionOffset(ForestSection s) => Sections[(int)s * 2];
    public readonly ulong SectionLength(ForestSection s) => Sections[(int)s * 2 + 1];

    public void SetSection(ForestSection s, ulong offset, ulong length)
    {
        Sections[(int)s * 2] = offset;
        Sections[(int)s * 2 + 1] = length;
    }

    public static int NodeStride(int paddedDimensions) => paddedDimensions * sizeof(float) + 16;
}

/// <summary>
/// One split. The normal comes first (PaddedDimensions floats, zero past Dimensions) and these 16 bytes follow it.
/// A child reference c ≥ 0 is an internal node, c &lt; 0 is leaf ~c. Nodes are numbered in preorder, so a valid
/// internal child always has a larger number than its parent: the reader relies on that to bound every descent.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 4)]
internal struct NodeTail
{
    public float Offset;   // margin = normal·q + Offset; margin > 0 goes Right.
    public int Left;
    public int Right;
    public int Reserved;
}

/// <summary>A leaf: a range of positions in LeafItems / LeafCodes.</summary>
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
