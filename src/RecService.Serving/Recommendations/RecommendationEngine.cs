using System.Buffers;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Forest;
using RecService.Models.Ensemble;

namespace RecService.Serving.Recommendations;

/// <summary>
/// The answers, in dense indices: a user's tracks by maximum inner product (the dot forest), tracks and artists
/// by cosine (the cosine forests), and popular tracks for users the model does not know. Results go into
/// caller-provided spans; the only per-call buffer is a pooled exclusion list when extra exclusions are given.
/// </summary>
public sealed class RecommendationEngine(IOptions<ServingOptions> options)
{
    public const int MaxCount = 500;

    /// <summary>The search settings for <paramref name="count"/> results from <paramref name="forest"/>: the forest's
    /// default search size is tuned for 10 results, so it is scaled for longer lists.</summary>
    private ForestSearchOptions SearchFor(ForestIndex forest, int count)
    {
        var search = options.Value.Search;
        var per10 = search.SearchK > 0 ? search.SearchK : forest.DefaultOptions.SearchK;
        return new ForestSearchOptions(ForestSearchOptions.ScaledSearchK(per10, count), search.StopSlack);
    }

    /// <summary>Top tracks for a known user, leaving out played tracks (when asked) and <paramref name="excluded"/>.</summary>
    public int Recommend(ModelBundle bundle, int user, bool excludePlayed, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        RecommendFor(bundle, AlsParts.Of(bundle).Tracks.UserFactors.Row(user), excludePlayed ? bundle.Played.RowIndices(user) : default, excluded, ids, scores);

    /// <summary>Top tracks for a user vector (e.g. one folded in from fresh plays), leaving out <paramref name="played"/> and <paramref name="excluded"/>.</summary>
    public int RecommendFor(ModelBundle bundle, ReadOnlySpan<float> query, ReadOnlySpan<int> played, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores)
    {
        var forest = AlsParts.Of(bundle).Tracks.DotForest;
        var search = SearchFor(forest, ids.Length);
        if (excluded.IsEmpty) return forest.Search(query, ids.Length, ids, scores, search, played);
        if (played.IsEmpty) return forest.Search(query, ids.Length, ids, scores, search, excluded);
        var all = ArrayPool<int>.Shared.Rent(played.Length + excluded.Length);
        try
        {
            played.CopyTo(all);
            excluded.CopyTo(all.AsSpan(played.Length));
            return forest.Search(query, ids.Length, ids, scores, search, all.AsSpan(0, played.Length + excluded.Length));
        }
        finally
        {
            ArrayPool<int>.Shared.Return(all);
        }
    }

    /// <summary>Tracks nearest <paramref name="track"/> by <paramref name="by"/>, skipping <paramref name="excluded"/> (radio's likes and dislikes).</summary>
    public int NearTracks(ModelBundle bundle, in ItemNeighbours by, int track, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        Near(bundle, by, AlsParts.Of(bundle).Tracks, track, excluded, ids, scores);

    /// <summary>Tracks nearest the seed for a station: with the ensemble, drawn from the seed artist's nearest artists
    /// (<see cref="EnsembleRanker.RankAmongArtists"/>); otherwise as <see cref="NearTracks(ModelBundle, in ItemNeighbours, int, ReadOnlySpan{int}, Span{int}, Span{float})"/>.</summary>
    /// <param name="perArtist">Most tracks a station takes of one artist: the pool needs enough artists to fill it.</param>
    public int StationTracks(ModelBundle bundle, in ItemNeighbours by, int track, int perArtist, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores)
    {
        if (by.Ranker is { } ranker && EnsembleRanker.For(bundle, IdSpaces.Artists) is { } artists)
        {
            // Radio asks for a few times the tracks it keeps; this many artists at the cap still fill it.
            var artistCount = Math.Clamp(ids.Length / Math.Max(1, 3 * perArtist), 20, EnsembleRanker.MaxPerPart);
            return ranker.RankAmongArtists(track, artists, artistCount, 2 * perArtist, ids, scores, excluded);
        }
        return NearTracks(bundle, by, track, excluded, ids, scores);
    }

    /// <summary>Tracks nearest a direction by cosine, skipping <paramref name="excluded"/> (radio from an artist).</summary>
    public int NearTracks(ModelBundle bundle, ReadOnlySpan<float> query, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores)
    {
        var forest = AlsParts.Of(bundle).Tracks.CosineForest;
        return forest.Search(query, ids.Length, ids, scores, SearchFor(forest, ids.Length), excluded);
    }

    /// <summary>The most played tracks, skipping <paramref name="excluded"/>: the fallback for unknown users.</summary>
    public int Popular(ModelBundle bundle, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores)
    {
        var n = 0;
        var catalog = bundle.Catalog;
        for (var rank = 0; rank < catalog.PopularCount && n < ids.Length; rank++)
        {
            var track = catalog.Popular(rank);
            if (excluded.Contains(track)) continue; // exclusions are a handful of ids here: a scan beats a set
            ids[n] = track;
            scores[n++] = catalog.Popularity(track);
        }
        return n;
    }

    public int SimilarTracks(ModelBundle bundle, in ItemNeighbours by, int track, Span<int> ids, Span<float> scores) =>
        Near(bundle, by, AlsParts.Of(bundle).Tracks, track, default, ids, scores);

    public int RelatedArtists(ModelBundle bundle, in ItemNeighbours by, int artist, Span<int> ids, Span<float> scores) =>
        Near(bundle, by, AlsParts.Of(bundle).Artists, artist, default, ids, scores);

    private int Near(ModelBundle bundle, in ItemNeighbours by, AlsPart als, int item, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        by.Ranker is { } ranker ? ranker.Rank(item, ids, scores, excluded)
        : by.Part is { } part ? part.Nearest(item, ids, scores, excluded)
        : ByItem(als.CosineForest, item, excluded, ids, scores);

    private int ByItem(ForestIndex forest, int item, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        forest.SearchByItem(item, ids.Length, ids, scores, SearchFor(forest, ids.Length), excluded);
}
