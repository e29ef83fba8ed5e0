using System.Buffers;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Forest;

namespace RecService.Serving.Recommendations;

/// <summary>
/// The answers, in dense indices: a user's tracks by maximum inner product (the dot forest), tracks and artists
/// by cosine (the cosine forests), and popular tracks for users the model does not know. Results go into
/// caller-provided spans; the only per-call buffer is a pooled exclusion list when extra exclusions are given.
/// </summary>
public sealed class RecommendationEngine(IOptions<ServingOptions> options)
{
    public const int MaxCount = 500;

    private int SearchK(ForestIndex forest, int count)
    {
        var per10 = options.Value.Search.SearchK > 0 ? options.Value.Search.SearchK : forest.DefaultOptions.SearchK;
        // The forest's default is tuned for 10 results; scale it so recall holds for longer lists.
        return (int)Math.Min(int.MaxValue, (long)per10 * Math.Max(10, count) / 10);
    }

    private float StopSlack => options.Value.Search.StopSlack;

    /// <summary>Top tracks for a known user, leaving out played tracks (when asked) and <paramref name="excluded"/>.</summary>
    public int Recommend(ModelBundle bundle, int user, bool excludePlayed, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        RecommendFor(bundle, AlsParts.Of(bundle).Tracks.UserFactors.Row(user), excludePlayed ? bundle.Played.RowIndices(user) : default, excluded, ids, scores);

    /// <summary>Top tracks for a user vector (e.g. one folded in from fresh plays), leaving out <paramref name="played"/> and <paramref name="excluded"/>.</summary>
    public int RecommendFor(ModelBundle bundle, ReadOnlySpan<float> query, ReadOnlySpan<int> played, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores)
    {
        var searchK = SearchK(AlsParts.Of(bundle).Tracks.DotForest, ids.Length);
        if (excluded.IsEmpty) return AlsParts.Of(bundle).Tracks.DotForest.Search(query, ids.Length, ids, scores, searchK, played, StopSlack);
        if (played.IsEmpty) return AlsParts.Of(bundle).Tracks.DotForest.Search(query, ids.Length, ids, scores, searchK, excluded, StopSlack);
        var all = ArrayPool<int>.Shared.Rent(played.Length + excluded.Length);
        try
        {
            played.CopyTo(all);
            excluded.CopyTo(all.AsSpan(played.Length));
            return AlsParts.Of(bundle).Tracks.DotForest.Search(query, ids.Length, ids, scores, searchK, all.AsSpan(0, played.Length + excluded.Length), StopSlack);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(all);
        }
    }

    /// <summary>Tracks nearest <paramref name="track"/> by cosine, skipping <paramref name="excluded"/> (radio).</summary>
    public int NearTracks(ModelBundle bundle, int track, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        AlsParts.Of(bundle).Tracks.CosineForest.SearchByItem(track, ids.Length, ids, scores, SearchK(AlsParts.Of(bundle).Tracks.CosineForest, ids.Length), excluded, StopSlack);

    /// <summary>Tracks nearest a direction by cosine, skipping <paramref name="excluded"/> (radio from an artist).</summary>
    public int NearTracks(ModelBundle bundle, ReadOnlySpan<float> query, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores) =>
        AlsParts.Of(bundle).Tracks.CosineForest.Search(query, ids.Length, ids, scores, SearchK(AlsParts.Of(bundle).Tracks.CosineForest, ids.Length), excluded, StopSlack);

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

    public int SimilarTracks(ModelBundle bundle, int track, Span<int> ids, Span<float> scores) =>
        AlsParts.Of(bundle).Tracks.CosineForest.SearchByItem(track, ids.Length, ids, scores, SearchK(AlsParts.Of(bundle).Tracks.CosineForest, ids.Length), stopSlack: StopSlack);

    public int RelatedArtists(ModelBundle bundle, int artist, Span<int> ids, Span<float> scores) =>
        AlsParts.Of(bundle).Artists.CosineForest.SearchByItem(artist, ids.Length, ids, scores, SearchK(AlsParts.Of(bundle).Artists.CosineForest, ids.Length), stopSlack: StopSlack);
}
