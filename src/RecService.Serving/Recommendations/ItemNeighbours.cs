using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Models.Ensemble;
using RecService.Models.Similarity;

namespace RecService.Serving.Recommendations;

/// <summary>
/// What answers "items like this one" for a request: the bundle's ensemble (the default when it has a blend for the
/// space), one part a request names with <c>model</c> (for debugging and experiments), or, in a bundle without a blend,
/// the ALS part's cosine forest searched with the replica's search settings (<see cref="IsAls"/>).
/// </summary>
public readonly struct ItemNeighbours
{
    private ItemNeighbours(EnsembleRanker? ranker, IItemSimilarity? part, string name)
    {
        Ranker = ranker;
        Part = part;
        Name = name;
    }

    public EnsembleRanker? Ranker { get; }
    public IItemSimilarity? Part { get; }
    /// <summary>What answered: <c>ensemble</c> or a part's name.</summary>
    public string Name { get; }
    /// <summary>The ALS part of the space, searched through the engine's configured search.</summary>
    public bool IsAls => Ranker is null && Part is null;

    /// <summary>
    /// Resolves <paramref name="model"/> (empty = the default) for items of <paramref name="space"/>; false when the bundle
    /// has no part of that name over the space (<paramref name="problem"/> says which parts there are).
    /// </summary>
    public static bool TryResolve(ModelBundle bundle, string space, string? model, out ItemNeighbours neighbours, out string problem)
    {
        problem = "";
        var alsPart = space == IdSpaces.Tracks ? AlsParts.TracksPart : AlsParts.ArtistsPart;
        if (string.IsNullOrEmpty(model) || model == EnsembleParts.Ensemble)
        {
            var ranker = EnsembleRanker.For(bundle, space);
            if (ranker is not null || string.IsNullOrEmpty(model))
            {
                neighbours = ranker is null ? new(null, null, alsPart) : new(ranker, null, EnsembleParts.Ensemble);
                return true;
            }
        }
        else if (model == alsPart)
        {
            neighbours = new(null, null, alsPart);
            return true;
        }
        else if (bundle.TryGetPart(model, out var part) && ItemSimilarities.Of(part) is { } view && view.Space == space)
        {
            neighbours = new(null, view, part.Name);
            return true;
        }
        neighbours = default;
        var choices = bundle.Parts.Where(p => ItemSimilarities.Of(p)?.Space == space).Select(p => p.Name)
            .Concat(EnsembleRanker.For(bundle, space) is null ? [] : [EnsembleParts.Ensemble]);
        problem = $"Model {bundle.Version} has no model part '{model}' over {space} (it has: {string.Join(", ", choices)}).";
        return false;
    }
}
