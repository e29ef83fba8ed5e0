using System.Buffers;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Vectors;
using RecService.Serving.Precompute;
using RecService.Serving.State;
using RecService.Serving.Taste;
using RecService.Serving.Telemetry;

namespace RecService.Serving.Recommendations;

/// <summary>A user's recommendations in dense indices, with a reason artist per track (-1 for none). Pooled: dispose it.</summary>
public sealed class RecommendationList : IDisposable
{
    internal RecommendationList(int capacity)
    {
        Tracks = ArrayPool<int>.Shared.Rent(capacity);
        Scores = ArrayPool<float>.Shared.Rent(capacity);
        ReasonArtists = ArrayPool<int>.Shared.Rent(capacity);
    }

    public int Count { get; internal set; }
    public int[] Tracks { get; }
    public float[] Scores { get; }
    public int[] ReasonArtists { get; }
    /// <summary>The source the list came from (<see cref="ICandidateSource.Name"/>).</summary>
    public string Source { get; internal set; } = "";
    /// <summary>A list that does not depend on the user, e.g. popular tracks for a user the model cannot place (the response's <c>fallback</c>).</summary>
    public bool Fallback { get; internal set; }
    /// <summary>Redis could not be asked (fresh plays or precomputed lists), so the answer used this replica's state only.</summary>
    public bool Degraded { get; internal set; }

    public void Dispose()
    {
        ArrayPool<int>.Shared.Return(Tracks);
        ArrayPool<float>.Shared.Return(Scores);
        ArrayPool<int>.Shared.Return(ReasonArtists);
    }
}

/// <summary>
/// A user's tracks: the user's plays and stored state are read (fresh plays and a precomputed list, in one round
/// trip), then the candidate sources are asked in order (<see cref="ICandidateSource"/>: by default realtime fold-in,
/// precomputed list, the trained vector, popular tracks) and the first that answers gives the list; the explanation
/// step then gives every track a reason from the user's most played artists.
/// </summary>
public sealed class UserRecommendations
{
    private readonly ICandidateSource[] _sources;
    private readonly RecommendationReasons _reasons;
    private readonly FreshPlayStore _freshPlays;
    private readonly PrecomputedLists _precomputed;
    private readonly ServingMetrics _metrics;

    public UserRecommendations(IEnumerable<ICandidateSource> sources, RecommendationReasons reasons, FreshPlayStore freshPlays,
        PrecomputedLists precomputed, ServingMetrics metrics)
    {
        _sources = [.. sources.OrderBy(s => s.Order)];
        if (_sources.Length == 0) throw new ArgumentException("Recommend needs at least one candidate source.", nameof(sources));
        var twice = _sources.GroupBy(s => s.Name).FirstOrDefault(g => g.Count() > 1);
        if (twice is not null) throw new ArgumentException($"Two candidate sources are named '{twice.Key}'.", nameof(sources));
        _reasons = reasons;
        _freshPlays = freshPlays;
        _precomputed = precomputed;
        _metrics = metrics;
    }

    /// <summary>The chain, in the order it is asked.</summary>
    public IReadOnlyList<ICandidateSource> Sources => _sources;

    public async ValueTask<RecommendationList> ForUserAsync(ModelBundle bundle, string userId, int count, bool excludePlayed, ArraySegment<int> excluded)
    {
        var user = bundle.Users.IndexOf(userId);
        // Both reads go out together (one round trip of latency); the stored list is used only without fresh plays.
        var freshRead = _freshPlays.GetAsync(userId);
        var storedRead = user >= 0 && excludePlayed ? _precomputed.GetAsync(userId) : ValueTask.FromResult(PrecomputedLists.NotAsked);
        var fresh = await freshRead;
        var answer = await storedRead;
        var degraded = fresh.Degraded || answer.Degraded;

        var list = new RecommendationList(count) { Degraded = degraded };
        try
        {
            Compute(bundle, user, fresh.Plays, answer.Value, count, excludePlayed, excluded, list);
            _metrics.RecommendSource(list.Source);
            return list;
        }
        catch
        {
            list.Dispose();
            throw;
        }
    }

    private void Compute(ModelBundle bundle, int user, IReadOnlyList<TrackPlays> fresh, byte[]? stored, int count, bool excludePlayed,
        ReadOnlySpan<int> excluded, RecommendationList list)
    {
        if (user >= 0)
        {
            // The user's played row, stored artists and what the sources read each sit somewhere in tens of MB of mapped
            // file (a cache miss apiece): started together, the misses overlap instead of following one another.
            foreach (var source in _sources) source.Prefetch(bundle, user);
            bundle.Played.Prefetch(user);
            bundle.UserArtists.Prefetch(user);
        }
        // The user's plays: the model's row (sorted by track), used in place unless fresh plays are merged into a copy.
        var userTracks = user >= 0 ? bundle.Played.RowIndices(user) : default;
        var userPlays = user >= 0 ? bundle.Played.RowValues(user) : default;
        int[]? mergedTracks = null;
        float[]? mergedPlays = null;
        try
        {
            var freshKnown = 0;
            if (fresh.Count > 0)
            {
                mergedTracks = ArrayPool<int>.Shared.Rent(userTracks.Length + fresh.Count);
                mergedPlays = ArrayPool<float>.Shared.Rent(userTracks.Length + fresh.Count);
                var n = MergeFresh(bundle, userTracks, userPlays, fresh, mergedTracks, mergedPlays, out freshKnown);
                userTracks = mergedTracks.AsSpan(0, n);
                userPlays = mergedPlays.AsSpan(0, n);
            }

            // The reasons' candidates (the user's most played artists) are known before the search: their vectors load
            // while it runs.
            Span<int> artists = stackalloc int[RecommendationReasons.CandidateArtists];
            // The bundle stores each user's top artists; only fresh plays change them.
            var listened = freshKnown == 0 && user >= 0
                ? _reasons.StoredTopArtists(bundle, user, artists)
                : _reasons.TopArtists(bundle, userTracks, userPlays, artists);
            _reasons.Prefetch(bundle, artists[..listened]);

            var context = new RecommendationContext
            {
                Bundle = bundle,
                User = user,
                Tracks = userTracks,
                Plays = userPlays,
                FreshKnown = freshKnown,
                Played = excludePlayed ? userTracks : default,
                Excluded = excluded,
                StoredList = stored,
            };
            var ids = list.Tracks.AsSpan(0, count);
            var scores = list.Scores.AsSpan(0, count);
            foreach (var source in _sources)
            {
                var n = source.Fill(context, ids, scores);
                if (n == 0) continue;
                list.Source = source.Name;
                list.Fallback = source.IsFallback;
                list.Count = n;
                break;
            }
            if (list.Source.Length == 0) list.Source = _sources[^1].Name; // no source had a track left to give: an empty list

            // The response will name these tracks: their strings load while the reasons are worked out.
            bundle.PrefetchTrackListing(list.Tracks.AsSpan(0, list.Count));
            var why = list.ReasonArtists.AsSpan(0, list.Count);
            if (listened == 0) why.Fill(-1);
            else _reasons.Explain(bundle, artists[..listened], list.Tracks.AsSpan(0, list.Count), why);
        }
        finally
        {
            if (mergedTracks is not null) ArrayPool<int>.Shared.Return(mergedTracks);
            if (mergedPlays is not null) ArrayPool<float>.Shared.Return(mergedPlays);
        }
    }

    /// <summary>
    /// The model's played row plus fresh plays, summed per track, into <paramref name="tracks"/>/<paramref name="plays"/>
    /// (the row first, in its order, then fresh tracks it lacks); returns the length. <paramref name="freshKnown"/>
    /// counts the fresh plays of tracks this model knows.
    /// </summary>
    private static int MergeFresh(ModelBundle bundle, ReadOnlySpan<int> row, ReadOnlySpan<float> rowPlays, IReadOnlyList<TrackPlays> fresh,
        int[] tracks, float[] plays, out int freshKnown)
    {
        row.CopyTo(tracks);
        rowPlays.CopyTo(plays);
        var n = row.Length;
        freshKnown = 0;
        foreach (var p in fresh)
        {
            var t = bundle.Tracks.IndexOf(p.TrackId);
            if (t < 0) continue; // played since, but not in this model's catalog
            freshKnown++;
            var at = row.BinarySearch(t);
            if (at < 0)
            {
                var added = tracks.AsSpan(row.Length, n - row.Length).IndexOf(t); // fresh ids are distinct; defensive
                at = added >= 0 ? row.Length + added : -1;
            }
            if (at >= 0) plays[at] += p.Count;
            else
            {
                tracks[n] = t;
                plays[n++] = p.Count;
            }
        }
        return n;
    }
}
