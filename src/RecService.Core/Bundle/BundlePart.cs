using System.Text.Json;
using RecService.Core.Forest;

namespace RecService.Core.Bundle;

/// <summary>
/// One opened model part of a bundle: its id spaces, matrices, forests and extras by role, typed parameters and metrics.
/// Owned by its <see cref="ModelBundle"/> (mapped as long as the bundle is). A family's typed view of the part is made
/// once (<see cref="View{T}"/>) so the hot path never looks anything up by name.
/// </summary>
public sealed class BundlePart
{
    private readonly ViewSlots _views = new();

    internal BundlePart(BundlePartEntry entry, MappedIdMap? rows, MappedIdMap items, IReadOnlyDictionary<string, MappedMatrix> matrices,
        IReadOnlyDictionary<string, ForestIndex> forests, IReadOnlyDictionary<string, MappedMatrix> extras, IReadOnlyDictionary<string, MappedCsr> sparse)
    {
        Sparse = sparse;
        Entry = entry;
        Rows = rows;
        Items = items;
        Matrices = matrices;
        Forests = forests;
        Extras = extras;
    }

    public BundlePartEntry Entry { get; }
    public string Name => Entry.Name;
    public string Family => Entry.Family;
    /// <summary>The id space of the rows (e.g. users); null when the part has none.</summary>
    public MappedIdMap? Rows { get; }
    public MappedIdMap Items { get; }
    public IReadOnlyDictionary<string, MappedMatrix> Matrices { get; }
    public IReadOnlyDictionary<string, ForestIndex> Forests { get; }
    public IReadOnlyDictionary<string, MappedMatrix> Extras { get; }
    /// <summary>Sparse matrices, one row per item.</summary>
    public IReadOnlyDictionary<string, MappedCsr> Sparse { get; }
    public IReadOnlyDictionary<string, double> Metrics => Entry.Metrics;
    /// <summary>The typed parameters as JSON.</summary>
    public JsonElement ParametersJson => Entry.Parameters;

    /// <summary>The item factors (every part but one of sparse matrices only has them).</summary>
    public MappedMatrix ItemFactors => Matrix(PartRoles.ItemFactors);

    public MappedMatrix Matrix(string role) => Matrices.TryGetValue(role, out var m) ? m : throw Missing("matrix", role);
    public ForestIndex Forest(string role) => Forests.TryGetValue(role, out var f) ? f : throw Missing("forest", role);
    public MappedMatrix Extra(string role) => Extras.TryGetValue(role, out var m) ? m : throw Missing("extra", role);
    public MappedCsr SparseMatrix(string role) => Sparse.TryGetValue(role, out var m) ? m : throw Missing("sparse matrix", role);

    /// <summary>The parameters deserialized into the family's record; throws <see cref="InvalidDataException"/> when they do not fit it.</summary>
    public T Parameters<T>()
    {
        try
        {
            return Entry.Parameters.Deserialize<T>(BundleManifest.Json) ?? throw new InvalidDataException($"Part {Name}: no parameters.");
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or NotSupportedException)
        {
            throw new InvalidDataException($"Part {Name}: parameters are not valid for family {Family}: {ex.Message}", ex);
        }
    }

    /// <summary>The typed view of this part made by <paramref name="create"/>, made once per part.</summary>
    public T View<T>(Func<BundlePart, T> create) where T : class => _views.Get(this, create);

    private InvalidOperationException Missing(string what, string role) => new($"Part {Name} ({Family}) has no {what} '{role}'.");
}

/// <summary>A few typed views made once per owner (a bundle or a part): found by type in a short array, no dictionary.</summary>
internal sealed class ViewSlots
{
    private object[] _views = [];
    private readonly Lock _lock = new();

    public T Get<TOwner, T>(TOwner owner, Func<TOwner, T> create) where T : class
    {
        foreach (var view in Volatile.Read(ref _views))
            if (view is T found) return found;
        lock (_lock)
        {
            foreach (var view in _views)
                if (view is T found) return found;
            var made = create(owner);
            Volatile.Write(ref _views, [.. _views, made]);
            return made;
        }
    }
}

/// <summary>
/// A model family's serving-side contract: the checks a part of the family must pass before a replica serves the bundle.
/// Implementations live with the family (RecService.Models); <see cref="ModelFamilies"/> hands them to <see cref="ModelBundle.Open"/>.
/// </summary>
public interface IModelFamily
{
    /// <summary>The family name parts carry in the manifest (e.g. "als").</summary>
    string Family { get; }

    /// <summary>Throws <see cref="InvalidDataException"/> with a clear message when <paramref name="part"/> is not a valid part of this family.</summary>
    void Validate(ModelBundle bundle, BundlePart part);
}

/// <summary>The families a reader knows. A part of a family not listed gets only the generic checks.</summary>
public sealed class ModelFamilies(IEnumerable<IModelFamily> families)
{
    private readonly IReadOnlyDictionary<string, IModelFamily> _byName = families.ToDictionary(f => f.Family, StringComparer.Ordinal);

    public static ModelFamilies None { get; } = new([]);

    public IModelFamily? Find(string family) => _byName.GetValueOrDefault(family);

    /// <summary>This registry plus <paramref name="family"/> (which replaces one of the same name).</summary>
    public ModelFamilies With(IModelFamily family) => new(_byName.Values.Where(f => f.Family != family.Family).Append(family));
}
