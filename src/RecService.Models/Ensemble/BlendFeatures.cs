using RecService.Core.Bundle;
using RecService.Models.Similarity;

namespace RecService.Models.Ensemble;

/// <summary>
/// The blend's feature names, built and parsed in one place. For a (seed, candidate) pair: <c>similarity:&lt;part&gt;</c>
/// (the part's similarity of the two; for a part over artists ranking tracks, of the tracks' artists), <c>missing:&lt;part&gt;</c>
/// (1 when the part lacks either: its learned default), <c>same-artist</c> (tracks only) and <c>intercept</c> (always 1).
/// </summary>
public static class BlendFeatures
{
    public const string Intercept = "intercept";
    public const string SameArtist = "same-artist";
    private const string SimilarityPrefix = "similarity:";
    private const string MissingPrefix = "missing:";

    public static string SimilarityOf(string part) => SimilarityPrefix + part;
    public static string MissingOf(string part) => MissingPrefix + part;

    public enum Kind { Intercept, SameArtist, Similarity, Missing }

    /// <summary>A feature name's kind and part (null for the two without one); throws <see cref="InvalidDataException"/> for a name this build does not know.</summary>
    public static (Kind Kind, string? Part) Parse(string name) => name switch
    {
        Intercept => (Kind.Intercept, null),
        SameArtist => (Kind.SameArtist, null),
        _ when name.StartsWith(SimilarityPrefix, StringComparison.Ordinal) && name.Length > SimilarityPrefix.Length => (Kind.Similarity, name[SimilarityPrefix.Length..]),
        _ when name.StartsWith(MissingPrefix, StringComparison.Ordinal) && name.Length > MissingPrefix.Length => (Kind.Missing, name[MissingPrefix.Length..]),
        _ => throw new InvalidDataException($"unknown blend feature '{name}'"),
    };

    /// <summary>
    /// The features a blend over <paramref name="space"/> uses in <paramref name="bundle"/>: every part with a similarity
    /// view over that space (and, ranking tracks, over artists) gives its similarity and missing flags; tracks add
    /// same-artist; the intercept comes last.
    /// </summary>
    public static IReadOnlyList<string> For(ModelBundle bundle, string space)
    {
        var names = new List<string>();
        foreach (var part in bundle.Parts)
        {
            if (ItemSimilarities.Of(part) is not { } view) continue;
            if (view.Space != space && !(space == IdSpaces.Tracks && view.Space == IdSpaces.Artists)) continue;
            names.Add(SimilarityOf(part.Name));
            names.Add(MissingOf(part.Name));
        }
        if (space == IdSpaces.Tracks) names.Add(SameArtist);
        names.Add(Intercept);
        return names;
    }
}
