using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Core.Bundle;

/// <summary>
/// One published model version, memory-mapped: id maps, factor matrices, played tracks, catalog metadata and
/// the three forests. Opening validates the manifest, every file's size (and checksum when asked), every file
/// header, and that all parts agree on counts and dimensions; a bundle that fails any check is refused whole.
/// Reference-counted: the holder owns one reference, each request leases one, and the mappings are released
/// when the last reference goes, so a hot swap never unmaps a bundle a request is still reading.
/// </summary>
public sealed unsafe class ModelBundle : IDisposable
{
    private readonly List<IDisposable> _owned;
    private int _references = 1;
    private MappedMatrix? _storedGram;
    private float[]? _computedGram;

    private ModelBundle(string directory, BundleManifest manifest, List<IDisposable> owned)
    {
        Directory = directory;
        Manifest = manifest;
        _owned = owned;
    }

    public string Directory { get; }
    public BundleManifest Manifest { get; }
    public string Version => Manifest.ModelVersion;
    public MappedIdMap Users { get; private set; } = null!;
    public MappedIdMap Tracks { get; private set; } = null!;
    public MappedIdMap Artists { get; private set; } = null!;
    public MappedMatrix UserFactors { get; private set; } = null!;
    public MappedMatrix TrackFactors { get; private set; } = null!;
    public MappedMatrix ArtistFactors { get; private set; } = null!;
    public MappedCsr Played { get; private set; } = null!;
    /// <summary>Each user's most played artists (<see cref="BundleFiles.UserArtists"/>); null for a bundle written before it existed.</summary>
    public MappedCsr? UserArtists { get; private set; }
    public BundleCatalog Catalog { get; private set; } = null!;
    public ForestIndex TrackDot { get; private set; } = null!;
    public ForestIndex TrackCosine { get; private set; } = null!;
    public ForestIndex ArtistCosine { get; private set; } = null!;
    public int Factors => TrackFactors.Columns;

    /// <summary>
    /// Y^T Y of the track factors (Factors x Factors, row-major): from <see cref="BundleFiles.TrackGram"/> when the bundle
    /// has it, otherwise computed once on first use (bundles written before the file existed).
    /// </summary>
    public ReadOnlySpan<float> TrackGram
    {
        get
        {
            if (_storedGram is { } stored) return new ReadOnlySpan<float>(stored.Data, Factors * Factors);
            var computed = Volatile.Read(ref _computedGram);
            if (computed is null)
            {
                computed = Bundle.TrackGram.Compute(AllTrackFactors, TrackFactors.Rows, Factors);
                computed = Interlocked.CompareExchange(ref _computedGram, computed, null) ?? computed;
            }
            return computed;
        }
    }

    /// <summary>Every track vector, row-major (Tracks x Factors).</summary>
    public ReadOnlySpan<float> AllTrackFactors => new(TrackFactors.Data, checked(TrackFactors.Rows * TrackFactors.Columns));

    /// <summary>Starts loading what a response names for <paramref name="tracks"/> (ids, titles, artists), scattered over
    /// the id map and the catalog: called as soon as a list is known, the misses overlap the work that follows (reasons)
    /// instead of stalling the building of each item.</summary>
    public void PrefetchTrackListing(ReadOnlySpan<int> tracks)
    {
        Catalog.Prefetch(tracks);
        foreach (var track in tracks) Tracks.Prefetch(track);
        // The artists' decoded names and ids are cached, but their entries lie scattered over the heap.
        foreach (var track in tracks) PrefetchArtistListing(Catalog.ArtistOrNone(track));
    }

    /// <summary>Starts loading an artist's id and name (<see cref="PrefetchTrackListing"/>). A hint: an artist out of
    /// range is ignored.</summary>
    public void PrefetchArtistListing(int artist)
    {
        Artists.Prefetch(artist);
        Catalog.PrefetchArtistName(artist);
    }

    public static ModelBundle Open(string directory, bool verifyChecksums = true)
    {
        var manifest = BundleManifest.Read(directory);
        foreach (var name in BundleFiles.All) manifest.FileNamed(name);
        manifest.VerifyFiles(directory, verifyChecksums);

        var owned = new List<IDisposable>();
        var bundle = new ModelBundle(directory, manifest, owned);
        try
        {
            SectionFile Section(string name, string kind)
            {
                var file = SectionFile.Open(Path.Combine(directory, name), kind);
                owned.Add(file);
                return file;
            }
            // The forests read their float vectors (for the exact re-rank) from the bundle's factor matrices; files
            // written before the bundle kept them once carry their own copy, and use it.
            ForestIndex Forest(string name, Metric metric, MappedMatrix vectors)
            {
                var forest = ForestIndex.Open(Path.Combine(directory, name), new ExternalVectors(vectors.Data, vectors.Rows, vectors.Columns));
                owned.Add(forest);
                if (forest.Metric != metric) throw new InvalidDataException($"{directory}/{name}: forest metric {forest.Metric}, expected {metric}.");
                return forest;
            }

            bundle.Users = new MappedIdMap(Section(BundleFiles.Users, MappedIdMap.Kind));
            bundle.Tracks = new MappedIdMap(Section(BundleFiles.Tracks, MappedIdMap.Kind));
            bundle.Artists = new MappedIdMap(Section(BundleFiles.Artists, MappedIdMap.Kind));
            bundle.UserFactors = new MappedMatrix(Section(BundleFiles.UserFactors, MappedMatrix.Kind));
            bundle.TrackFactors = new MappedMatrix(Section(BundleFiles.TrackFactors, MappedMatrix.Kind));
            bundle.ArtistFactors = new MappedMatrix(Section(BundleFiles.ArtistFactors, MappedMatrix.Kind));
            bundle.Played = new MappedCsr(Section(BundleFiles.Played, MappedCsr.Kind));
            if (manifest.Files.Any(f => f.Name == BundleFiles.UserArtists))
                bundle.UserArtists = new MappedCsr(Section(BundleFiles.UserArtists, MappedCsr.Kind));
            if (manifest.Files.Any(f => f.Name == BundleFiles.TrackGram))
                bundle._storedGram = new MappedMatrix(Section(BundleFiles.TrackGram, MappedMatrix.Kind));
            bundle.Catalog = new BundleCatalog(Section(BundleFiles.Catalog, BundleFiles.CatalogSections.Kind), bundle.Tracks.Count, bundle.Artists.Count);
            bundle.TrackDot = Forest(BundleFiles.TrackDotForest, Metric.Dot, bundle.TrackFactors);
            bundle.TrackCosine = Forest(BundleFiles.TrackCosineForest, Metric.Cosine, bundle.TrackFactors);
            bundle.ArtistCosine = Forest(BundleFiles.ArtistCosineForest, Metric.Cosine, bundle.ArtistFactors);
            bundle.CheckConsistency();
            return bundle;
        }
        catch
        {
            foreach (var d in owned) d.Dispose();
            throw;
        }
    }

    private void CheckConsistency()
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{Directory}: inconsistent bundle: {what}.");
        }
        Require(UserFactors.Rows == Users.Count, $"{UserFactors.Rows} user vectors for {Users.Count} users");
        Require(TrackFactors.Rows == Tracks.Count, $"{TrackFactors.Rows} track vectors for {Tracks.Count} tracks");
        Require(ArtistFactors.Rows == Artists.Count, $"{ArtistFactors.Rows} artist vectors for {Artists.Count} artists");
        Require(UserFactors.Columns == TrackFactors.Columns, $"user factors {UserFactors.Columns} != track factors {TrackFactors.Columns}");
        Require(Played.Rows == Users.Count && Played.Columns == Tracks.Count, $"played matrix {Played.Rows} x {Played.Columns} for {Users.Count} users x {Tracks.Count} tracks");
        if (UserArtists is { } top)
            Require(top.Rows == Users.Count && top.Columns == Artists.Count,
                $"{BundleFiles.UserArtists} is {top.Rows} x {top.Columns} for {Users.Count} users x {Artists.Count} artists");
        if (_storedGram is { } gram)
        {
            Require(gram.Rows == Factors && gram.Columns == Factors, $"{BundleFiles.TrackGram} is {gram.Rows} x {gram.Columns}, expected {Factors} x {Factors}");
            var mismatch = Bundle.TrackGram.Mismatch(new ReadOnlySpan<float>(gram.Data, Factors * Factors), AllTrackFactors, TrackFactors.Rows, Factors);
            Require(mismatch is null, $"{BundleFiles.TrackGram} is not Y^T Y of the track factors: {mismatch}");
        }
        foreach (var (forest, name, count, dims) in new[]
                 {
                     (TrackDot, BundleFiles.TrackDotForest, Tracks.Count, TrackFactors.Columns),
                     (TrackCosine, BundleFiles.TrackCosineForest, Tracks.Count, TrackFactors.Columns),
                     (ArtistCosine, BundleFiles.ArtistCosineForest, Artists.Count, ArtistFactors.Columns),
                 })
        {
            Require(forest.Count == count && forest.Dimensions == dims, $"{name} holds {forest.Count} x {forest.Dimensions}, expected {count} x {dims}");
        }
    }

    /// <summary>Takes a reference for the length of a request; false once the bundle has been fully released.</summary>
    public bool TryAcquire()
    {
        while (true)
        {
            var n = Volatile.Read(ref _references);
            if (n == 0) return false;
            if (Interlocked.CompareExchange(ref _references, n + 1, n) == n) return true;
        }
    }

    /// <summary>Drops a reference; the last one unmaps every file.</summary>
    public void Release()
    {
        var n = Interlocked.Decrement(ref _references);
        if (n == 0)
        {
            foreach (var d in _owned) d.Dispose();
        }
        else if (n < 0) throw new InvalidOperationException("ModelBundle released more times than acquired.");
    }

    public bool IsReleased => Volatile.Read(ref _references) == 0;

    /// <summary>Drops the owner's reference (see <see cref="Release"/>).</summary>
    public void Dispose() => Release();
}
