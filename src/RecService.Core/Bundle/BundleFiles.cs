namespace RecService.Core.Bundle;

/// <summary>The catalog's file names inside a bundle version directory, and how part files are named (FORMAT.md describes each).</summary>
public static class BundleFiles
{
    public const string Users = "users.ids";
    public const string Tracks = "tracks.ids";
    public const string Artists = "artists.ids";
    public const string Played = "played.csr";
    public const string Catalog = "catalog.meta";

    /// <summary>Each user's most played artists (users x artists, at most <see cref="Bundle.UserArtists.PerUser"/> per row),
    /// for explanations.</summary>
    public const string UserArtists = "user-artists.csr";

    /// <summary>The catalog: every bundle has these, whatever its parts.</summary>
    public static readonly string[] CatalogFiles = [Users, Tracks, Artists, Played, UserArtists, Catalog];

    /// <summary>A part's file: <c>&lt;part&gt;.&lt;role&gt;.&lt;extension&gt;</c> (e.g. tracks.item-factors.mat).</summary>
    public static string PartFile(string part, string role, string extension) => $"{part}.{role}.{extension}";

    /// <summary>Section file kind and section tags of <see cref="Catalog"/>.</summary>
    internal static class CatalogSections
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

/// <summary>The id spaces a part's rows and items can be in: the catalog's three, or an <c>.ids</c> file of its own.</summary>
public static class IdSpaces
{
    public const string Users = "users";
    public const string Tracks = "tracks";
    public const string Artists = "artists";

    /// <summary>True for a part's own id map (a file of the bundle), false for a catalog space.</summary>
    public static bool IsFile(string space) => space.EndsWith(".ids", StringComparison.Ordinal);
}

/// <summary>The roles generic validation knows: what a part's matrices, forests and extras are.</summary>
public static class PartRoles
{
    /// <summary>Matrix: one row per row id (e.g. a user vector per user).</summary>
    public const string UserFactors = "user-factors";
    /// <summary>Matrix: one row per item; the vectors the part's forests index.</summary>
    public const string ItemFactors = "item-factors";
    /// <summary>Forest by inner product over the item factors.</summary>
    public const string Dot = "dot";
    /// <summary>Forest by cosine over the item factors.</summary>
    public const string Cosine = "cosine";
    /// <summary>Extra: Y^T Y of the item factors (factors x factors).</summary>
    public const string Gram = "gram";
    /// <summary>The part's own item id map, when its items are not a catalog space.</summary>
    public const string ItemIds = "items";

    /// <summary>The metric a forest role is built with; null for a role generic validation does not know.</summary>
    public static Vectors.Metric? MetricOf(string forestRole) => forestRole switch
    {
        Dot => Vectors.Metric.Dot,
        Cosine => Vectors.Metric.Cosine,
        _ => null,
    };
}
