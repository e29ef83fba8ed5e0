using RecService.Core.Bundle;

namespace RecService.Models.Similarity;

/// <summary>
/// One part's view of how alike two items of its id space are, and which items it finds nearest an item: what the
/// ensemble ranker asks of every part (<see cref="Ensemble.EnsembleRanker"/>). Resolved once per part and bundle.
/// </summary>
public interface IItemSimilarity
{
    BundlePart Part { get; }

    /// <summary>The catalog space of the items (<see cref="IdSpaces.Tracks"/> or <see cref="IdSpaces.Artists"/>).</summary>
    string Space { get; }

    /// <summary>Whether the part knows the item (a word2vec part lacks tracks no playlist or session holds).</summary>
    bool Has(int item);

    /// <summary>Similarity of two items in [-1, 1]; 0 when either is unknown to the part.</summary>
    float Similarity(int a, int b);

    /// <summary><see cref="Similarity"/> when the part knows both items (true), in one pass where a part can.</summary>
    bool TrySimilarity(int a, int b, out float similarity)
    {
        similarity = 0;
        if (!Has(a) || !Has(b)) return false;
        similarity = Similarity(a, b);
        return true;
    }

    /// <summary>Starts loading what <see cref="TrySimilarity"/> reads of <paramref name="item"/> (a hint; nothing by default).</summary>
    void Prefetch(int item) { }

    /// <summary>Up to <c>ids.Length</c> items nearest <paramref name="item"/>, best first, never the item itself nor
    /// <paramref name="excluded"/>; returns how many. Nothing for an item the part does not know.</summary>
    int Nearest(int item, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded);

    /// <summary>As <see cref="Nearest"/>, for the ensemble's candidates: the ranker rescores every candidate, so a part
    /// may trade exactness for speed here (a forest searches at its default size, not one scaled to the list).</summary>
    int Candidates(int item, Span<int> ids, Span<float> scores) => Nearest(item, ids, scores, default);
}
