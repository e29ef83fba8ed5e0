using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Models.Bpr;
using RecService.Models.Cooccurrence;
using RecService.Models.Tags;
using RecService.Models.Word2Vec;

namespace RecService.Models.Similarity;

/// <summary>Which parts answer item similarity, and through which view: the one place a family is mapped to it.</summary>
public static class ItemSimilarities
{
    /// <summary>The similarity view of <paramref name="part"/>, or null when its family has none (or it lacks what the
    /// view needs: an ALS part without a cosine forest).</summary>
    public static IItemSimilarity? Of(BundlePart part)
    {
        if (part.Entry.Items is not (IdSpaces.Tracks or IdSpaces.Artists)) return null;
        return part.Family switch
        {
            AlsFamily.Name or BprFamily.Name or Word2VecFamily.Name when part.Forests.ContainsKey(PartRoles.Cosine) => CosineVectors.Of(part),
            TagFamily.Name => TagVectors.Of(part),
            CooccurrenceFamily.Name => NeighbourLists.Of(part),
            _ => null,
        };
    }
}
