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
    /// PaddedDimensions bytes each; the rest read tree 0's copy by slot (prefetched). 0 means all trees. A copy makes
    /// that tree's leaf scans sequential instead of scattered, at the price of a larger working set: on 200k x 64,
    /// 5 trees, one copy (1.42x raw) was as fast as or 5% faster than five copies (2.48x raw), interleaved runs.</summary>
    public int CodedTrees { get; init; } = 1;

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
        if (CodedTrees < 0) throw new ArgumentOutOfRangeException(nameof(CodedTrees), CodedTrees, "CodedTrees must be 0 (all trees) or positive.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (all cores) or positive.");
        if (dims is < 1 or > VectorMath.MaxQuantizedDimensions)
            throw new ArgumentOutOfRangeException(nameof(dims), dims, $"Dimensions must be in [1, {VectorMath.MaxQuantizedDimensions}].");
    }
}
