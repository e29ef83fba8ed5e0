namespace RecService.Core.Bundle;

/// <summary>The file names inside a bundle version directory (FORMAT.md describes each).</summary>
public static class BundleFiles
{
    public const string Users = "users.ids";
    public const string Tracks = "tracks.ids";
    public const string Artists = "artists.ids";
    public const string UserFactors = "user-factors.mat";
    public const string TrackFactors = "track-factors.mat";
    public const string ArtistFactors = "artist-factors.mat";
    public const string Played = "played.csr";
    public const string Catalog = "catalog.meta";
    public const string TrackDotForest = "tracks-dot.forest";
    public const string TrackCosineForest = "tracks-cosine.forest";
    public const string ArtistCosineForest = "artists-cosine.forest";
    /// <summary>Y^T Y of the track factors (factors x factors), for fold-in. Written by every bundle since it was added;
    /// optional on read (a bundle without it gets the Gram matrix computed once, at first use).</summary>
    public const string TrackGram = "track-gram.mat";

    /// <summary>Each user's most played artists (users x artists, at most <see cref="Bundle.UserArtists.PerUser"/> per row),
    /// for explanations. Written by every bundle since it was added; optional on read (without it they are computed
    /// from the user's plays per request).</summary>
    public const string UserArtists = "user-artists.csr";

    public static readonly string[] All =
    [
        Users, Tracks, Artists, UserFactors, TrackFactors, ArtistFactors, Played, Catalog,
        TrackDotForest, TrackCosineForest, ArtistCosineForest,
    ];

    /// <summary>Section file kind and section tags of <see cref="Catalog"/>.</summary>
    public static class CatalogSections
    {
        public const string Kind = "META";
        public const string TrackArtist = "TART";
        public const string TrackTitleOffsets = "TTOF";
        public const string TrackTitleBlob = "TTBL";
        public const string ArtistNameOffsets = "ANOF";
        public const string ArtistNameBlob = "ANBL";
        public const string TrackPopularity = "TPOP";
        public const string PopularOrder = "PORD";
    }
}
