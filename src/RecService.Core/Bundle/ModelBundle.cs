using RecService.Core.Text;
using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Core.Bundle;

/// <summary>
/// One published model version, memory-mapped: the catalog (id maps, played tracks, each user's top artists, catalog
/// metadata) and the named model parts (<see cref="BundlePart"/>). Opening validates the manifest, every file's size (and
/// checksum when asked), every file header, each part against its id spaces and its forests against its item matrix,
/// then each part's family checks; a bundle that fails any check is refused whole.
/// Reference-counted: the holder owns one reference, each request leases one, and the mappings are released
/// when the last reference goes, so a hot swap never unmaps a bundle a request is still reading.
/// </summary>
public sealed unsafe class ModelBundle : IDisposable
{
    private readonly List<IDisposable> _owned;
    private readonly ViewSlots _views = new();
    private MappedFile[] _mapped = [];
    private int _references = 1;

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
    public MappedCsr Played { get; private set; } = null!;
    /// <summary>Each user's most played artists (<see cref="BundleFiles.UserArtists"/>).</summary>
    public MappedCsr UserArtists { get; private set; } = null!;
    public BundleCatalog Catalog { get; private set; } = null!;
    public IReadOnlyList<BundlePart> Parts { get; private set; } = [];

    /// <summary>The part named <paramref name="name"/>; throws naming the parts there are when it is missing.</summary>
    public BundlePart Part(string name) =>
        TryGetPart(name, out var part)
            ? part
            : throw new InvalidDataException($"Bundle {Version} has no model part '{name}' (it has: {string.Join(", ", Parts.Select(p => p.Name))}).");

    public bool TryGetPart(string name, out BundlePart part)
    {
        foreach (var p in Parts)
        {
            if (p.Name == name)
            {
                part = p;
                return true;
            }
        }
        part = null!;
        return false;
    }

    /// <summary>A typed view over this bundle made by <paramref name="create"/>, made once per bundle (e.g. the parts a
    /// replica serves from, resolved by name once).</summary>
    public T View<T>(Func<ModelBundle, T> create) where T : class => _views.Get(this, create);

    /// <summary>The id map of a space a part names: a catalog space, or a part's own .ids file (opened by the caller).</summary>
    private MappedIdMap? CatalogSpace(string space) => space switch
    {
        IdSpaces.Users => Users,
        IdSpaces.Tracks => Tracks,
        IdSpaces.Artists => Artists,
        _ => null,
    };

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

    /// <summary>Opens and validates a bundle; <paramref name="families"/> adds the checks of the model families it knows.</summary>
    public static ModelBundle Open(string directory, bool verifyChecksums = true, ModelFamilies? families = null)
    {
        var manifest = BundleManifest.Read(directory);
        var listed = manifest.Files.Select(f => f.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in BundleFiles.CatalogFiles.Concat(manifest.Parts.SelectMany(p => p.FileNames())))
            if (!listed.Contains(name))
                throw new InvalidDataException($"{Path.Combine(directory, BundleManifest.FileName)}: does not list {ControlCharacters.Quote(name)}, which the bundle needs.");
        manifest.VerifyFiles(directory, verifyChecksums, out var verified);

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

            bundle.Users = new MappedIdMap(Section(BundleFiles.Users, MappedIdMap.Kind));
            bundle.Tracks = new MappedIdMap(Section(BundleFiles.Tracks, MappedIdMap.Kind));
            bundle.Artists = new MappedIdMap(Section(BundleFiles.Artists, MappedIdMap.Kind));
            bundle.Played = new MappedCsr(Section(BundleFiles.Played, MappedCsr.Kind));
            bundle.UserArtists = new MappedCsr(Section(BundleFiles.UserArtists, MappedCsr.Kind));
            bundle.Catalog = new BundleCatalog(Section(BundleFiles.Catalog, BundleFiles.CatalogSections.Kind), bundle.Tracks.Count, bundle.Artists.Count);
            bundle.CheckCatalog();

            var parts = new List<BundlePart>();
            foreach (var entry in manifest.Parts)
            {
                if (parts.Any(p => p.Name == entry.Name)) throw new InvalidDataException($"{directory}: two parts named '{entry.Name}'.");
                parts.Add(bundle.OpenPart(entry, Section, owned));
            }
            bundle.Parts = parts;
            foreach (var part in parts) (families ?? ModelFamilies.None).Find(part.Family)?.Validate(bundle, part);
            bundle._mapped = [.. owned.OfType<SectionFile>().Select(f => f.File), .. owned.OfType<ForestIndex>().Select(f => f.File)];
            // A file written between its check and its mapping would be served unchecked, and its later changes compared
            // against the already-changed state: such a bundle is not served (the next poll tries again).
            foreach (var file in bundle._mapped)
            {
                if (!verified.TryGetValue(Path.GetFileName(file.Path), out var before)) continue;
                var now = file.Identity;
                var change = before.Inode != now.Inode || before.Device != now.Device ? "replaced" : now.ChangeSince(in before);
                if (change is not null) throw new IOException($"{file.Path}: {change} while the bundle was being opened.");
            }
            return bundle;
        }
        catch
        {
            foreach (var d in owned) d.Dispose();
            throw;
        }
    }

    private void Require(bool ok, string what)
    {
        if (!ok) throw new InvalidDataException($"{Directory}: inconsistent bundle: {what}.");
    }

    private void CheckCatalog()
    {
        Require(Played.Rows == Users.Count && Played.Columns == Tracks.Count, $"played matrix {Played.Rows} x {Played.Columns} for {Users.Count} users x {Tracks.Count} tracks");
        Require(UserArtists.Rows == Users.Count && UserArtists.Columns == Artists.Count,
            $"{BundleFiles.UserArtists} is {UserArtists.Rows} x {UserArtists.Columns} for {Users.Count} users x {Artists.Count} artists");
    }

    /// <summary>Opens one part and checks it on its own: id spaces, matrix shapes, forests against the item matrix, the Gram extra.</summary>
    private BundlePart OpenPart(BundlePartEntry entry, Func<string, string, SectionFile> section, List<IDisposable> owned)
    {
        var name = entry.Name;
        Require(name.Length > 0 && entry.Family.Length > 0, "a part without a name or family");
        MappedIdMap Space(string space) =>
            CatalogSpace(space) ?? (IdSpaces.IsFile(space)
                ? new MappedIdMap(section(space, MappedIdMap.Kind))
                : throw new InvalidDataException($"{Directory}: part {name} names an unknown id space '{space}'."));
        var rows = entry.Rows is { } r ? Space(r) : null;
        var items = Space(entry.Items);

        var matrices = entry.Matrices.ToDictionary(p => p.Key, p => new MappedMatrix(section(p.Value, MappedMatrix.Kind)), StringComparer.Ordinal);
        var extras = entry.Extras.ToDictionary(p => p.Key, p => new MappedMatrix(section(p.Value, MappedMatrix.Kind)), StringComparer.Ordinal);
        // A NaN, an infinity or a value whose square overflows poisons every score computed with it (and a fold-in's
        // solve): refused here, not answered as a 500 or a NaN score later.
        foreach (var (files, opened) in new[] { (entry.Matrices, matrices), (entry.Extras, extras) })
            foreach (var (role, matrix) in opened)
                if (matrix.FirstInvalidValue() is { } where)
                    throw new InvalidDataException($"{Path.Combine(Directory, files[role])}: non-finite or out-of-range value (beyond {MappedMatrix.MaxMagnitude:G0}) at {where}.");
        var sparse = entry.Sparse.ToDictionary(p => p.Key, p => new MappedCsr(section(p.Value, MappedCsr.Kind)), StringComparer.Ordinal);
        foreach (var (role, matrix) in sparse)
        {
            Require(matrix.Rows == items.Count, $"part {name}: sparse {role} has {matrix.Rows} rows for {items.Count} {entry.Items}");
            if (matrix.FirstInvalidValue() is { } where)
                throw new InvalidDataException($"{Path.Combine(Directory, entry.Sparse[role])}: non-finite or out-of-range value at {where}.");
        }
        if (!matrices.TryGetValue(PartRoles.ItemFactors, out var y))
        {
            Require(sparse.Count > 0 && entry.Forests.Count == 0 && !matrices.ContainsKey(PartRoles.UserFactors),
                $"part {name} has no {PartRoles.ItemFactors} matrix (only a part of sparse matrices, without forests or user factors, may lack it)");
            return new BundlePart(entry, rows, items, matrices, new Dictionary<string, ForestIndex>(), extras, sparse);
        }
        Require(y.Rows == items.Count, $"part {name}: {y.Rows} item vectors for {items.Count} {entry.Items}");
        if (matrices.TryGetValue(PartRoles.UserFactors, out var x))
        {
            Require(rows is not null, $"part {name} has user factors but no row id space");
            Require(x.Rows == rows!.Count, $"part {name}: {x.Rows} user vectors for {rows.Count} {entry.Rows}");
            Require(x.Columns == y.Columns, $"part {name}: user factors {x.Columns} != item factors {y.Columns}");
        }
        if (extras.TryGetValue(PartRoles.Gram, out var gram))
        {
            var f = y.Columns;
            Require(gram.Rows == f && gram.Columns == f, $"part {name}: {entry.Extras[PartRoles.Gram]} is {gram.Rows} x {gram.Columns}, expected {f} x {f}");
            var mismatch = FactorGram.Mismatch(gram.All, y.All, y.Rows, f);
            Require(mismatch is null, $"part {name}: {entry.Extras[PartRoles.Gram]} is not Y^T Y of the item factors: {mismatch}");
        }

        // The forests read their float vectors (for the exact re-rank) from the part's item matrix; forest files
        // written before bundles kept them once carry their own copy, and use it.
        var forests = new Dictionary<string, ForestIndex>(StringComparer.Ordinal);
        foreach (var (role, file) in entry.Forests)
        {
            var forest = ForestIndex.Open(Path.Combine(Directory, file), new ExternalVectors(y.Data, y.Rows, y.Columns));
            owned.Add(forest);
            forests[role] = forest;
            if (PartRoles.MetricOf(role) is { } metric && forest.Metric != metric)
                throw new InvalidDataException($"{Directory}/{file}: forest metric {forest.Metric}, expected {metric}.");
            Require(forest.Count == y.Rows && forest.Dimensions == y.Columns, $"{file} holds {forest.Count} x {forest.Dimensions}, expected {y.Rows} x {y.Columns}");
        }
        return new BundlePart(entry, rows, items, matrices, forests, extras, sparse);
    }

    /// <summary>
    /// The first mapped file of this bundle that changed in place since it was opened (truncated, rewritten or
    /// re-permissioned), as "path: what changed"; null when none did. <paramref name="contentChanged"/> is false when
    /// only the file's status changed (a chmod, a hard link made or removed): its bytes are as they were. A few fstat
    /// calls: cheap enough for every poll.
    /// </summary>
    public string? ChangedFile(out bool contentChanged)
    {
        contentChanged = false;
        if (!TryAcquire()) return null;
        try
        {
            foreach (var file in _mapped)
            {
                if (file.ChangeSinceOpen(out contentChanged) is { } change) return $"{file.Path}: {change}";
            }
            return null;
        }
        finally { Release(); }
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

    /// <summary>Drops the owner's reference (see <see cref="Release"/>).</summary>
    public void Dispose() => Release();
}
