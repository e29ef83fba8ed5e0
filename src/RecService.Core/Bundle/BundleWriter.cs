using RecService.Core.Forest;
using RecService.Core.Sparse;
using RecService.Core.Vectors;

namespace RecService.Core.Bundle;

/// <summary>Everything a bundle holds, as the trainer has it in memory.</summary>
public sealed record BundleContent
{
    public required IReadOnlyList<string> UserIds { get; init; }
    public required IReadOnlyList<string> TrackIds { get; init; }
    public required IReadOnlyList<string> ArtistIds { get; init; }
    /// <summary>Users x factors, row-major (the users x tracks model).</summary>
    public required float[] UserFactors { get; init; }
    /// <summary>Tracks x factors, row-major.</summary>
    public required float[] TrackFactors { get; init; }
    public required int Factors { get; init; }
    /// <summary>Artists x artistFactors, row-major (the users x artists model).</summary>
    public required float[] ArtistFactors { get; init; }
    public required int ArtistFactorCount { get; init; }
    /// <summary>Users x tracks plays: excluded from a user's recommendations, and summed into popularity.</summary>
    public required CsrMatrix Played { get; init; }
    public required IReadOnlyList<int> TrackArtist { get; init; }
    public required IReadOnlyList<string> TrackTitles { get; init; }
    public required IReadOnlyList<string> ArtistNames { get; init; }
}

/// <summary>Forest settings for the three indexes a bundle carries.</summary>
public sealed record BundleForestOptions
{
    // The forest's own defaults: its recall/size trade-off is tuned there (Forest/FORMAT.md).
    public int TrackTrees { get; init; } = new ForestOptions().Trees;
    public int ArtistTrees { get; init; } = new ForestOptions().Trees;
    /// <summary>Code copies per forest (<see cref="ForestOptions.CodedTrees"/>): by default decided by size, which gives
    /// a 1M x 64 track forest a copy per tree (381 MB instead of 109 MB); 1 keeps the smallest files.</summary>
    public int CodedTrees { get; init; } = ForestOptions.CodedTreesBySize;
    public int Seed { get; init; } = 1;
    public int Threads { get; init; }
}

/// <summary>Writes a bundle's files into a (staging) directory; <see cref="BundleStore.Publish"/> adds the manifest.</summary>
public static class BundleWriter
{
    public static void Write(string directory, BundleContent c, BundleForestOptions? forests = null)
    {
        forests ??= new BundleForestOptions();
        Validate(c);
        MappedIdMap.Write(Path.Combine(directory, BundleFiles.Users), c.UserIds);
        MappedIdMap.Write(Path.Combine(directory, BundleFiles.Tracks), c.TrackIds);
        MappedIdMap.Write(Path.Combine(directory, BundleFiles.Artists), c.ArtistIds);
        MappedMatrix.Write(Path.Combine(directory, BundleFiles.UserFactors), c.UserFactors, c.UserIds.Count, c.Factors);
        MappedMatrix.Write(Path.Combine(directory, BundleFiles.TrackFactors), c.TrackFactors, c.TrackIds.Count, c.Factors);
        MappedMatrix.Write(Path.Combine(directory, BundleFiles.ArtistFactors), c.ArtistFactors, c.ArtistIds.Count, c.ArtistFactorCount);
        MappedCsr.Write(Path.Combine(directory, BundleFiles.Played), c.Played);
        MappedCsr.Write(Path.Combine(directory, BundleFiles.UserArtists), UserArtists.Compute(c.Played, c.TrackArtist, c.ArtistIds.Count));
        MappedMatrix.Write(Path.Combine(directory, BundleFiles.TrackGram), TrackGram.Compute(c.TrackFactors, c.TrackIds.Count, c.Factors), c.Factors, c.Factors);

        var popularity = new float[c.TrackIds.Count];
        for (var k = 0; k < c.Played.NonZeros; k++) popularity[c.Played.ColumnIndices[k]] += c.Played.Values[k];
        // Most played first; ties by track index so the same data always gives the same file.
        var order = Enumerable.Range(0, popularity.Length).OrderByDescending(t => popularity[t]).ThenBy(t => t).ToArray();
        new SectionFileWriter(FourCC.From(BundleFiles.CatalogSections.Kind))
            .Add<int>(BundleFiles.CatalogSections.TrackArtist, c.TrackArtist.ToArray())
            .AddStrings(BundleFiles.CatalogSections.TrackTitleOffsets, BundleFiles.CatalogSections.TrackTitleBlob, c.TrackTitles)
            .AddStrings(BundleFiles.CatalogSections.ArtistNameOffsets, BundleFiles.CatalogSections.ArtistNameBlob, c.ArtistNames)
            .Add<float>(BundleFiles.CatalogSections.TrackPopularity, popularity)
            .Add<int>(BundleFiles.CatalogSections.PopularOrder, order)
            .Write(Path.Combine(directory, BundleFiles.Catalog));

        // The forests read their vectors from the factor matrices written above (ModelBundle.Open hands them in).
        var forestOptions = new ForestOptions
        {
            Trees = forests.TrackTrees, CodedTrees = forests.CodedTrees, ExternalVectors = true, Seed = forests.Seed, Threads = forests.Threads,
        };
        ForestBuilder.Build(c.TrackFactors, c.TrackIds.Count, c.Factors, forestOptions with { Metric = Metric.Dot }, Path.Combine(directory, BundleFiles.TrackDotForest));
        ForestBuilder.Build(c.TrackFactors, c.TrackIds.Count, c.Factors, forestOptions with { Metric = Metric.Cosine }, Path.Combine(directory, BundleFiles.TrackCosineForest));
        ForestBuilder.Build(c.ArtistFactors, c.ArtistIds.Count, c.ArtistFactorCount,
            forestOptions with { Trees = forests.ArtistTrees, Metric = Metric.Cosine },
            Path.Combine(directory, BundleFiles.ArtistCosineForest));
    }

    public static bool AllFinite(ReadOnlySpan<float> values) => VectorMath.IndexOfNonFinite(values) < 0;

    private static void Validate(BundleContent c)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new ArgumentException($"Bundle content: {what}.");
        }
        Require(c.Factors > 0 && c.ArtistFactorCount > 0, "factor counts must be positive");
        Require(c.UserFactors.Length == (long)c.UserIds.Count * c.Factors, "user factors do not match users x factors");
        Require(c.TrackFactors.Length == (long)c.TrackIds.Count * c.Factors, "track factors do not match tracks x factors");
        Require(c.ArtistFactors.Length == (long)c.ArtistIds.Count * c.ArtistFactorCount, "artist factors do not match artists x factors");
        Require(c.Played.Rows == c.UserIds.Count && c.Played.Columns == c.TrackIds.Count, "played matrix is not users x tracks");
        Require(c.TrackArtist.Count == c.TrackIds.Count && c.TrackTitles.Count == c.TrackIds.Count, "track metadata does not cover every track");
        Require(c.ArtistNames.Count == c.ArtistIds.Count, "artist names do not cover every artist");
        Require(c.TrackArtist.All(a => (uint)a < (uint)c.ArtistIds.Count), "a track's artist is out of range");
        Require(AllFinite(c.UserFactors) && AllFinite(c.TrackFactors) && AllFinite(c.ArtistFactors), "factors contain NaN or infinity");
    }
}
