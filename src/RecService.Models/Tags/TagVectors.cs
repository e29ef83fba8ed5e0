using RecService.Core.Bundle;
using RecService.Core.Sparse;
using RecService.Models.Similarity;

namespace RecService.Models.Tags;

/// <summary>The serving view of a tag part (<see cref="TagFamily"/>): pair cosine by a merge of two sorted tag rows,
/// nearest items from the stored neighbour lists.</summary>
public sealed class TagVectors : IItemSimilarity
{
    private readonly MappedCsr _weights;
    private readonly MappedCsr _neighbours;

    private TagVectors(BundlePart part)
    {
        if (part.Family != TagFamily.Name) throw new InvalidDataException($"Part {part.Name} is of family {part.Family}, not {TagFamily.Name}.");
        Part = part;
        Space = part.Entry.Items;
        _weights = part.SparseMatrix(TagFamily.Weights);
        _neighbours = part.SparseMatrix(TagFamily.Neighbours);
    }

    public static TagVectors Of(BundlePart part) => part.View(static p => new TagVectors(p));

    public BundlePart Part { get; }
    public string Space { get; }

    public bool Has(int item) => (uint)item < (uint)_weights.Rows && _weights.VerifiedRowIndices(item).Length > 0;

    public float Similarity(int a, int b)
    {
        if ((uint)a >= (uint)_weights.Rows || (uint)b >= (uint)_weights.Rows) return 0;
        var ta = _weights.VerifiedRowIndices(a);
        var tb = _weights.VerifiedRowIndices(b);
        if (ta.IsEmpty || tb.IsEmpty) return 0;
        return Math.Clamp(SparseRows.Dot(ta, _weights.VerifiedRowValues(a), tb, _weights.VerifiedRowValues(b)), -1f, 1f);
    }

    public int Nearest(int item, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded) =>
        StoredNeighbours.Nearest(_neighbours, item, ids, scores, excluded);
}
