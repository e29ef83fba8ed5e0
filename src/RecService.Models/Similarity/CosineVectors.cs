using System.Numerics.Tensors;
using RecService.Core.Bundle;
using RecService.Core.Forest;

namespace RecService.Models.Similarity;

/// <summary>
/// A part of dense item vectors with a cosine forest (ALS, BPR, word2vec) as an <see cref="IItemSimilarity"/>: cosine
/// from the vectors and the 1/|y| the forest stores (0 for a zero vector, which is how a part marks an item it lacks).
/// </summary>
public sealed unsafe class CosineVectors : IItemSimilarity
{
    private readonly MappedMatrix _vectors;
    private readonly ForestIndex _forest;
    private readonly ForestSearchOptions _search;

    private CosineVectors(BundlePart part)
    {
        Part = part;
        Space = part.Entry.Items;
        _vectors = part.ItemFactors;
        _forest = part.Forest(PartRoles.Cosine);
        _search = _forest.DefaultOptions;
    }

    /// <summary>The view of <paramref name="part"/>, made once per part; the part needs item factors and a cosine forest.</summary>
    public static CosineVectors Of(BundlePart part) => part.View(static p => new CosineVectors(p));

    public BundlePart Part { get; }
    public string Space { get; }
    public ForestIndex Forest => _forest;
    public MappedMatrix Vectors => _vectors;

    public bool Has(int item) => (uint)item < (uint)_vectors.Rows && _forest.InverseNorm(item) > 0;

    public float Similarity(int a, int b)
    {
        if ((uint)a >= (uint)_vectors.Rows || (uint)b >= (uint)_vectors.Rows) return 0;
        var scale = _forest.InverseNorm(a) * _forest.InverseNorm(b);
        if (!(scale > 0)) return 0;
        // The stored 1/|y| and the dot round differently: an item against itself can come out a hair above 1.
        return Math.Clamp(TensorPrimitives.Dot(_vectors.Row(a), _vectors.Row(b)) * scale, -1f, 1f);
    }

    /// <summary>Each item's 1/|y| read once: both known (non-zero), then the cosine.</summary>
    public bool TrySimilarity(int a, int b, out float similarity)
    {
        similarity = 0;
        if ((uint)a >= (uint)_vectors.Rows || (uint)b >= (uint)_vectors.Rows) return false;
        var ia = _forest.InverseNorm(a);
        var ib = _forest.InverseNorm(b);
        if (!(ia > 0) || !(ib > 0)) return false;
        similarity = Math.Clamp(TensorPrimitives.Dot(_vectors.Row(a), _vectors.Row(b)) * ia * ib, -1f, 1f);
        return true;
    }

    public void Prefetch(int item)
    {
        _vectors.PrefetchRow(item);
        _forest.PrefetchInverseNorm(item);
    }

    public int Nearest(int item, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded) =>
        Search(item, ids, scores, excluded, ForestSearchOptions.ScaledSearchK(_search.SearchK, ids.Length));

    public int Candidates(int item, Span<int> ids, Span<float> scores) => Search(item, ids, scores, default, _search.SearchK);

    private int Search(int item, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded, int searchK)
    {
        if (!Has(item) || ids.IsEmpty) return 0;
        // The default search size is tuned for 10 results; Nearest scales it for a longer list.
        var n = _forest.SearchByItem(item, ids.Length, ids, scores, _search with { SearchK = searchK }, excluded);
        // A zero vector scores 0 against everything and would fill the list with noise.
        var kept = 0;
        for (var i = 0; i < n; i++)
        {
            if (ids[i] == item || !(_forest.InverseNorm(ids[i]) > 0)) continue;
            ids[kept] = ids[i];
            scores[kept++] = scores[i];
        }
        return kept;
    }
}
