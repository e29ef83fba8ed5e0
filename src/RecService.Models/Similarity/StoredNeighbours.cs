using RecService.Core.Bundle;

namespace RecService.Models.Similarity;

/// <summary>Nearest items read from a part's stored neighbour lists (items x items, each row best first), as the tag
/// and co-listening parts keep them: the one copy loop both serve <see cref="IItemSimilarity.Nearest"/> with.</summary>
public static class StoredNeighbours
{
    public static int Nearest(MappedCsr neighbours, int item, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded)
    {
        if ((uint)item >= (uint)neighbours.Rows) return 0;
        var near = neighbours.VerifiedRowIndices(item);
        var values = neighbours.VerifiedRowValues(item);
        var n = 0;
        for (var i = 0; i < near.Length && n < ids.Length; i++)
        {
            if (near[i] == item || excluded.Contains(near[i])) continue;
            ids[n] = near[i];
            scores[n++] = values[i];
        }
        return n;
    }
}
