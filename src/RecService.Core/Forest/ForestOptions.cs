using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>How to build a forest. Same options and same vectors give the same file, byte for byte, at any thread count.</summary>
public sealed record ForestOptions
{
    public Metric Metric { get; init; } = Metric.Cosine;

    /// <summary>Number of trees. Each costs 4 bytes per item (its leaf order of slots) plus its split records, so the file
    /// stays far below 3x the raw vectors; more trees raise recall per scored candidate but scatter more code loads.</summary>
    public int Trees { get; init; } = 5;

    /// <summary>Largest number of items in a leaf. Large leaves (tens to a hundred items) win here, unlike in Annoy: a
    /// leaf is scanned on int8 codes at a few ns per item, while each split visited costs a queue operation. 5 trees of
    /// 96 beat 8 of 32 and 16 of 24 at equal recall on the 200k x 64 benchmark.</summary>
    public int LeafSize { get; init; } = 96;

    /// <summary>How many trees (the first ones) get their own leaf-ordered copy of the int8 codes, Count x
    /// PaddedDimensions bytes each; the rest read tree 0's copy by slot (prefetched). 0 means all trees;
    /// <see cref="CodedTreesBySize"/> (the default) means all trees once one copy is larger than
    /// <see cref="AllCodedAboveBytes"/>, else one. A copy makes that tree's leaf scans sequential instead of scattered, at
    /// the price of a larger file; scattered reads are cheap only while one copy stays cache-resident (measurements in
    /// FORMAT.md: one copy is as fast at 200k x 64, five are 5-11% faster at 500k and 1M).</summary>
    public int CodedTrees { get; init; } = CodedTreesBySize;

    /// <summary>The default of <see cref="CodedTrees"/>: decided from the size of one code copy.</summary>
    public const int CodedTreesBySize = -1;

    /// <summary>One code copy larger than this (half of a 32 MB last-level cache) gets every tree its own copy.</summary>
    public const long AllCodedAboveBytes = 16L << 20;

    /// <summary>The number of trees that get their own code copy for <paramref name="count"/> items of
    /// <paramref name="paddedDimensions"/> code bytes each. By size, no more copies than the builder's single code array
    /// can hold (.NET arrays index with int).</summary>
    public int CodedTreeCount(int count, int paddedDimensions)
    {
        long copy = (long)count * paddedDimensions;
        return CodedTrees switch
        {
            0 => Trees,
            CodedTreesBySize => copy > AllCodedAboveBytes ? (int)Math.Clamp(Array.MaxLength / copy, 1, Trees) : 1,
            _ => Math.Min(CodedTrees, Trees),
        };
    }

    /// <summary>Leaves the float32 vectors out of the file: whoever opens it hands them in (<see cref="ForestIndex.Open(string, ExternalVectors?)"/>),
    /// as a bundle does from the factor matrix it stores anyway (256 MB per track forest at 1M x 64).</summary>
    public bool ExternalVectors { get; init; }

    public int Seed { get; init; } = 1;

    /// <summary>Build threads; 0 means all cores.</summary>
    public int Threads { get; init; }

    /// <summary>Points sampled per split for the two-means (Annoy uses a similar small sample).</summary>
    public int SplitSample { get; init; } = 256;

    /// <summary>A split leaving fewer than this fraction of the points on one side is moved to that quantile instead, which
    /// bounds the depth on skewed (Zipf-clustered) data. Small on purpose: on ALS-like data forcing balance (0.3 and up)
    /// cut recall at equal work by 1-2 points, because the two-means bisector falls in the gap between groups.</summary>
    public double MinSplitFraction { get; init; } = 0.05;

    internal void Validate(int dims)
    {
        if (Metric is not (Metric.Cosine or Metric.Dot)) throw new ArgumentOutOfRangeException(nameof(Metric), Metric, "Metric must be Cosine or Dot.");
        if (Trees is < 1 or > 1024) throw new ArgumentOutOfRangeException(nameof(Trees), Trees, "Trees must be in [1, 1024].");
        if (LeafSize is < 1 or > 65536) throw new ArgumentOutOfRangeException(nameof(LeafSize), LeafSize, "LeafSize must be in [1, 65536].");
        if (SplitSample < 2) throw new ArgumentOutOfRangeException(nameof(SplitSample), SplitSample, "SplitSample must be at least 2.");
        if (MinSplitFraction is < 0 or >= 0.5) throw new ArgumentOutOfRangeException(nameof(MinSplitFraction), MinSplitFraction, "MinSplitFraction must be in [0, 0.5).");
        if (CodedTrees < CodedTreesBySize)
            throw new ArgumentOutOfRangeException(nameof(CodedTrees), CodedTrees, "CodedTrees must be -1 (by size), 0 (all trees) or positive.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (all cores) or positive.");
        if (dims is < 1 or > VectorMath.MaxQuantizedDimensions)
            throw new ArgumentOutOfRangeException(nameof(dims), dims, $"Dimensions must be in [1, {VectorMath.MaxQuantizedDimensions}].");
    }
}
