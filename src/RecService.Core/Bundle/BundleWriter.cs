using System.Text.Json;
using RecService.Core.Forest;
using RecService.Core.Sparse;
using RecService.Core.Vectors;

namespace RecService.Core.Bundle;

/// <summary>A dense float matrix in memory (rows x columns, row-major).</summary>
public sealed record PartMatrix(float[] Values, int Rows, int Columns);

/// <summary>A forest a part asks for over its item factors; <paramref name="Trees"/> 0 takes the bundle's setting for the part.</summary>
public sealed record PartForest(string Role, Metric Metric, int Trees = 0);

/// <summary>One model part as its trainer has it in memory (<see cref="BundlePartEntry"/> is how the manifest lists it).</summary>
public sealed record PartContent
{
    public required string Name { get; init; }
    public required string Family { get; init; }
    /// <summary>Id space of the rows (<see cref="IdSpaces"/>); null when the part has no <see cref="PartRoles.UserFactors"/>.</summary>
    public string? Rows { get; init; }
    /// <summary>Id space of the items: a catalog space, or null to use <see cref="ItemIds"/>.</summary>
    public string? Items { get; init; }
    /// <summary>The part's own item ids, written as <c>&lt;part&gt;.items.ids</c>, when <see cref="Items"/> is null.</summary>
    public IReadOnlyList<string>? ItemIds { get; init; }
    public IReadOnlyDictionary<string, PartMatrix> Matrices { get; init; } = new Dictionary<string, PartMatrix>();
    /// <summary>Forests over the <see cref="PartRoles.ItemFactors"/> matrix.</summary>
    public IReadOnlyList<PartForest> Forests { get; init; } = [];
    public IReadOnlyDictionary<string, PartMatrix> Extras { get; init; } = new Dictionary<string, PartMatrix>();
    /// <summary>Sparse matrices with one row per item (<see cref="BundlePart.Sparse"/>).</summary>
    public IReadOnlyDictionary<string, CsrMatrix> Sparse { get; init; } = new Dictionary<string, CsrMatrix>();
    /// <summary>The family's typed hyperparameters, as JSON (see <see cref="BundlePart.Parameters{T}"/>).</summary>
    public JsonElement Parameters { get; init; }
    public IReadOnlyDictionary<string, double> Metrics { get; init; } = new Dictionary<string, double>();

    /// <summary>The item id space as the manifest names it.</summary>
    public string ItemSpace => Items ?? BundleFiles.PartFile(Name, PartRoles.ItemIds, "ids");

    /// <summary>Typed parameters as JSON, written the way the manifest is.</summary>
    public static JsonElement ParametersOf<T>(T parameters) => JsonSerializer.SerializeToElement(parameters, BundleManifest.Json);
}

/// <summary>Everything a bundle holds, as the trainer has it in memory: the catalog and the model parts.</summary>
public sealed record BundleContent
{
    public required IReadOnlyList<string> UserIds { get; init; }
    public required IReadOnlyList<string> TrackIds { get; init; }
    public required IReadOnlyList<string> ArtistIds { get; init; }
    /// <summary>Users x tracks plays: excluded from a user's recommendations, and summed into popularity.</summary>
    public required CsrMatrix Played { get; init; }
    public required IReadOnlyList<int> TrackArtist { get; init; }
    public required IReadOnlyList<string> TrackTitles { get; init; }
    public required IReadOnlyList<string> ArtistNames { get; init; }
    public required IReadOnlyList<PartContent> Parts { get; init; }

    /// <summary>How many ids a catalog space holds; -1 for a name that is not one.</summary>
    public int CountOf(string space) => space switch
    {
        IdSpaces.Users => UserIds.Count,
        IdSpaces.Tracks => TrackIds.Count,
        IdSpaces.Artists => ArtistIds.Count,
        _ => -1,
    };
}

/// <summary>Forest settings for the indexes a bundle's parts carry.</summary>
public sealed record BundleForestOptions
{
    // The forest's own defaults: its recall/size trade-off is tuned there (Forest/FORMAT.md).
    /// <summary>Trees of the forests of the part over tracks named "tracks" (and any part without a setting of its own).</summary>
    public int TrackTrees { get; init; } = new ForestOptions().Trees;
    /// <summary>Trees of the forests of the part named "artists".</summary>
    public int ArtistTrees { get; init; } = new ForestOptions().Trees;
    /// <summary>Code copies per forest (<see cref="ForestOptions.CodedTrees"/>): by default decided by size, which gives
    /// a 1M x 64 track forest a copy per tree (381 MB instead of 109 MB); 1 keeps the smallest files.</summary>
    public int CodedTrees { get; init; } = ForestOptions.CodedTreesBySize;
    public int Seed { get; init; } = 1;
    public int Threads { get; init; }
    /// <summary>Recall@10 each forest's default search size is raised to reach on its real queries, never below the
    /// metric's fixed default (the part's user vectors for a dot forest, its items for a cosine one;
    /// <see cref="ForestTuning"/>); 0 keeps the fixed default.</summary>
    public float TargetRecall { get; init; } = 0.95f;

    /// <summary>Whether <paramref name="recall"/> can be a <see cref="TargetRecall"/>: in [0, 1], 0 turning tuning off.</summary>
    public static bool IsTargetRecall(float recall) => recall is >= 0 and <= 1;

    /// <summary>The tree count for a part's forest that does not set its own.</summary>
    public int TreesFor(string part) => part == IdSpaces.Artists ? ArtistTrees : TrackTrees;
}

/// <summary>Writes a bundle's files into a (staging) directory; <see cref="BundleStore.Publish(BundleManifest, BundleContent, BundleForestOptions?, DateTimeOffset?)"/>
/// adds the manifest.</summary>
public static class BundleWriter
{
    public static void Write(string directory, BundleContent c, BundleForestOptions? forests = null)
    {
        forests ??= new BundleForestOptions();
        Validate(c);
        MappedIdMap.Write(Path.Combine(directory, BundleFiles.Users), c.UserIds);
        MappedIdMap.Write(Path.Combine(directory, BundleFiles.Tracks), c.TrackIds);
        MappedIdMap.Write(Path.Combine(directory, BundleFiles.Artists), c.ArtistIds);
        MappedCsr.Write(Path.Combine(directory, BundleFiles.Played), c.Played);
        MappedCsr.Write(Path.Combine(directory, BundleFiles.UserArtists), UserArtists.Compute(c.Played, c.TrackArtist, c.ArtistIds.Count));

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

        foreach (var part in c.Parts) WritePart(directory, part, forests);
    }

    private static void WritePart(string directory, PartContent part, BundleForestOptions forests)
    {
        var entry = Entry(part);
        if (part.ItemIds is { } ids) MappedIdMap.Write(Path.Combine(directory, part.ItemSpace), ids);
        foreach (var (role, m) in part.Matrices) MappedMatrix.Write(Path.Combine(directory, entry.Matrices[role]), m.Values, m.Rows, m.Columns);
        foreach (var (role, m) in part.Extras) MappedMatrix.Write(Path.Combine(directory, entry.Extras[role]), m.Values, m.Rows, m.Columns);
        foreach (var (role, m) in part.Sparse) MappedCsr.Write(Path.Combine(directory, entry.Sparse[role]), m);
        if (part.Forests.Count == 0) return;
        // The forests read their vectors from the item matrix written above (ModelBundle.Open hands it in).
        var items = part.Matrices[PartRoles.ItemFactors];
        var options = new ForestOptions { CodedTrees = forests.CodedTrees, ExternalVectors = true, Seed = forests.Seed, Threads = forests.Threads };
        foreach (var forest in part.Forests)
        {
            var trees = forest.Trees > 0 ? forest.Trees : forests.TreesFor(part.Name);
            var path = Path.Combine(directory, entry.Forests[forest.Role]);
            ForestBuilder.Build(items.Values, items.Rows, items.Columns, options with { Trees = trees, Metric = forest.Metric }, path);
            if (forests.TargetRecall <= 0) continue;
            // Recommend asks the dot forest with the part's user vectors, similar items a cosine forest with its items.
            // The search never goes below the forest's fixed default: a forest that beats the target there stays as exact.
            if (forest.Metric == Metric.Cosine)
                ForestTuning.Tune(path, items.Values, items.Rows, items.Columns, items.Values, items.Rows, forests.TargetRecall, forests.Threads, queriesAreItems: true);
            else if (part.Matrices.GetValueOrDefault(PartRoles.UserFactors) is { } queries && queries.Columns == items.Columns)
                ForestTuning.Tune(path, items.Values, items.Rows, items.Columns, queries.Values, queries.Rows, forests.TargetRecall, forests.Threads);
        }
    }

    /// <summary>How the manifest lists a part: its files named <c>&lt;part&gt;.&lt;role&gt;.&lt;ext&gt;</c>.</summary>
    public static BundlePartEntry Entry(PartContent part)
    {
        var entry = new BundlePartEntry
        {
            Name = part.Name,
            Family = part.Family,
            Rows = part.Rows,
            Items = part.ItemSpace,
            Parameters = part.Parameters.ValueKind == JsonValueKind.Undefined ? JsonSerializer.SerializeToElement(new { }) : part.Parameters,
            Metrics = new SortedDictionary<string, double>(part.Metrics.ToDictionary(), StringComparer.Ordinal),
        };
        foreach (var role in part.Matrices.Keys) entry.Matrices[role] = BundleFiles.PartFile(part.Name, role, "mat");
        foreach (var role in part.Extras.Keys) entry.Extras[role] = BundleFiles.PartFile(part.Name, role, "mat");
        foreach (var role in part.Sparse.Keys) entry.Sparse[role] = BundleFiles.PartFile(part.Name, role, "csr");
        foreach (var forest in part.Forests) entry.Forests[forest.Role] = BundleFiles.PartFile(part.Name, forest.Role, "forest");
        return entry;
    }

    /// <summary>The manifest's part list for <paramref name="content"/>.</summary>
    public static List<BundlePartEntry> Entries(BundleContent content) => content.Parts.Select(Entry).ToList();

    public static bool AllFinite(ReadOnlySpan<float> values) => VectorMath.IndexOfNonFinite(values) < 0;

    private static void Validate(BundleContent c)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new ArgumentException($"Bundle content: {what}.");
        }
        Require(c.Played.Rows == c.UserIds.Count && c.Played.Columns == c.TrackIds.Count, "played matrix is not users x tracks");
        Require(c.TrackArtist.Count == c.TrackIds.Count && c.TrackTitles.Count == c.TrackIds.Count, "track metadata does not cover every track");
        Require(c.ArtistNames.Count == c.ArtistIds.Count, "artist names do not cover every artist");
        Require(c.TrackArtist.All(a => (uint)a < (uint)c.ArtistIds.Count), "a track's artist is out of range");
        Require(c.Parts.Select(p => p.Name).Distinct().Count() == c.Parts.Count, "two parts share a name");
        foreach (var part in c.Parts)
        {
            var name = part.Name;
            Require(name.Length > 0 && name.All(ch => char.IsAsciiLetterLower(ch) || char.IsAsciiDigit(ch) || ch == '-'), $"part name '{name}' is not lower-case letters, digits and '-'");
            Require(part.Family.Length > 0, $"part {name} has no family");
            Require((part.Items is null) != (part.ItemIds is null), $"part {name} must name exactly one of a catalog item space and its own item ids");
            var items = part.Items is { } space ? c.CountOf(space) : part.ItemIds!.Count;
            Require(items >= 0, $"part {name}: '{part.Items}' is not a catalog id space");
            foreach (var (role, m) in part.Matrices.Concat(part.Extras))
            {
                Require(m.Rows >= 0 && m.Columns > 0 && m.Values.Length == (long)m.Rows * m.Columns, $"part {name}: {role} holds {m.Values.Length} values for {m.Rows} x {m.Columns}");
                Require(AllFinite(m.Values), $"part {name}: {role} contains NaN or infinity");
            }
            foreach (var (role, m) in part.Sparse)
            {
                Require(m.Rows == items, $"part {name}: sparse {role} has {m.Rows} rows for {items} items");
                Require(AllFinite(m.Values), $"part {name}: sparse {role} contains NaN or infinity");
            }
            if (!part.Matrices.TryGetValue(PartRoles.ItemFactors, out var y))
            {
                // A part of sparse rows only (tags) has no vectors: nothing to index or to fold users into.
                Require(part.Sparse.Count > 0 && part.Forests.Count == 0 && !part.Matrices.ContainsKey(PartRoles.UserFactors),
                    $"part {name} has no {PartRoles.ItemFactors} matrix (only a part of sparse matrices, without forests or user factors, may lack it)");
                continue;
            }
            Require(y.Rows == items, $"part {name}: {y.Rows} item vectors for {items} items");
            if (part.Matrices.TryGetValue(PartRoles.UserFactors, out var x))
            {
                var rows = part.Rows is { } r ? c.CountOf(r) : -1;
                Require(rows >= 0, $"part {name}: user factors need a catalog row space, not '{part.Rows}'");
                Require(x.Rows == rows && x.Columns == y.Columns, $"part {name}: user factors are {x.Rows} x {x.Columns}, expected {rows} x {y.Columns}");
            }
            Require(part.Forests.Select(f => f.Role).Distinct().Count() == part.Forests.Count, $"part {name}: two forests share a role");
        }
    }
}
