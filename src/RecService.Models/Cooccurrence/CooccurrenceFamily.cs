using RecService.Core.Bundle;
using RecService.Models.Similarity;

namespace RecService.Models.Cooccurrence;

/// <summary>What defines a co-listening part: how many neighbours it keeps per item and the shrinkage of its cosine.</summary>
/// <param name="Shrinkage">Added to the cosine's denominator: two items sharing one listener by chance score little,
/// however rare they are (Koren's shrunk similarity).</param>
public sealed record CooccurrenceParameters(int Neighbours, double Shrinkage)
{
    public static CooccurrenceParameters Defaults { get; } = new(100, 5);

    public string? Problem() =>
        Neighbours is < 1 or > 10_000 ? $"neighbours {Neighbours} not in 1..10000"
        : !(Shrinkage >= 0) || double.IsInfinity(Shrinkage) ? $"shrinkage {Shrinkage} not finite and >= 0"
        : null;
}

/// <summary>
/// Item-based collaborative filtering: items are alike when the same users play them, by the shrunk cosine of their
/// listener sets. A part holds one sparse matrix, <see cref="Neighbours"/> (items x items: each item's nearest, best
/// first, values the similarities), computed exactly offline; a pair outside the lists has similarity 0.
/// </summary>
public sealed class CooccurrenceFamily : IModelFamily
{
    public const string Name = "cooccurrence";
    public const string Neighbours = "neighbours";

    public static CooccurrenceFamily Instance { get; } = new();

    public string Family => Name;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{bundle.Directory}: co-listening part {part.Name}: {what}.");
        }
        var parameters = part.Parameters<CooccurrenceParameters>();
        Require(parameters.Problem() is null, $"bad parameters: {parameters.Problem()}");
        Require(part.Matrices.Count == 0 && part.Forests.Count == 0 && part.Extras.Count == 0, "holds dense matrices, forests or extras");
        part.Sparse.TryGetValue(Neighbours, out var near);
        Require(part.Sparse.Count == 1 && near is not null, $"needs exactly the sparse '{Neighbours}'");
        Require(near!.Columns == part.Items.Count, $"{Neighbours} is {near.Rows} x {near.Columns}, expected items x items ({part.Items.Count})");
        Require(part.Entry.Items is IdSpaces.Tracks or IdSpaces.Artists, $"items are '{part.Entry.Items}', not tracks or artists");
    }
}

/// <summary>The serving view of a co-listening part: its stored neighbour lists, a pair's similarity looked up in them.</summary>
public sealed class NeighbourLists : IItemSimilarity
{
    private readonly MappedCsr _neighbours;

    private NeighbourLists(BundlePart part)
    {
        if (part.Family != CooccurrenceFamily.Name) throw new InvalidDataException($"Part {part.Name} is of family {part.Family}, not {CooccurrenceFamily.Name}.");
        Part = part;
        Space = part.Entry.Items;
        _neighbours = part.SparseMatrix(CooccurrenceFamily.Neighbours);
    }

    public static NeighbourLists Of(BundlePart part) => part.View(static p => new NeighbourLists(p));

    public BundlePart Part { get; }
    public string Space { get; }

    public bool Has(int item) => (uint)item < (uint)_neighbours.Rows && _neighbours.VerifiedRowIndices(item).Length > 0;

    public float Similarity(int a, int b)
    {
        if ((uint)a >= (uint)_neighbours.Rows || (uint)b >= (uint)_neighbours.Rows) return 0;
        // Lists are short and best first: a scan of either (the similarity is symmetric, each list is cut at its own length).
        var at = _neighbours.VerifiedRowIndices(a).IndexOf(b);
        if (at >= 0) return _neighbours.VerifiedRowValues(a)[at];
        at = _neighbours.VerifiedRowIndices(b).IndexOf(a);
        return at >= 0 ? _neighbours.VerifiedRowValues(b)[at] : 0;
    }

    public int Nearest(int item, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded) =>
        StoredNeighbours.Nearest(_neighbours, item, ids, scores, excluded);
}
