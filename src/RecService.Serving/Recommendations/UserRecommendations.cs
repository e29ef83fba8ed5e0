using System.Buffers;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Vectors;
using RecService.Serving.Precompute;
using RecService.Serving.State;
using RecService.Serving.Taste;
using RecService.Serving.Telemetry;

namespace RecService.Serving.Recommendations;

/// <summary>Where a user's list came from.</summary>
public enum RecommendationSource
{
    /// <summary>The user's trained vector against the dot forest.</summary>
    Model,
    /// <summary>A vector folded in on the fly from the user's plays including fresh ones (RecordPlays).</summary>
    Realtime,
    /// <summary>The list `rec precompute` stored for this user and this model version.</summary>
    Precomputed,
    /// <summary>Popular tracks: the user is unknown and has no fresh plays.</summary>
    Popular,
}

public static class RecommendationSources
{
    // Lower-case names as the API and metrics spell them, made once rather than per request.
    private static readonly string[] Names = Enum.GetValues<RecommendationSource>().Select(s => s.ToString().ToLowerInvariant()).ToArray();

    public static string Name(this RecommendationSource source) => Names[(int)source];
}

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
    public RecommendationSource Source { get; internal set; }
    /// <summary>Popular tracks for a user the model cannot place (the response's <c>fallback</c>).</summary>
    public bool Fallback => Source == RecommendationSource.Popular;
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
/// A user's tracks, choosing the best source available: with fresh plays of tracks this model knows, a vector folded
/// in from all their plays (<see cref="TasteFoldIn"/>); otherwise a precomputed list for the current model version when one is stored
/// and still long enough after exclusions; otherwise the trained vector; popular tracks for a user with neither.
/// Every list carries reasons from the user's most played artists.
/// </summary>
public sealed class UserRecommendations(
    RecommendationEngine engine,
    TasteFoldIn foldIn,
    RecommendationReasons reasons,
    FreshPlayStore freshPlays,
    PrecomputedLists precomputed,
    ServingMetrics metrics)
{
    public async ValueTask<RecommendationList> ForUserAsync(ModelBundle bundle, string userId, int count, bool excludePlayed, ArraySegment<int> excluded)
    {
        var user = bundle.Users.IndexOf(userId);
        // Both reads go out together (one round trip of latency); the stored list is used only without fresh plays.
        var freshRead = freshPlays.GetAsync(userId);
        var storedRead = user >= 0 && excludePlayed ? precomputed.GetAsync(userId) : ValueTask.FromResult(PrecomputedLists.NotAsked);
        var fresh = await freshRead;
        var answer = await storedRead;
        var degraded = fresh.Degraded || answer.Degraded;
        var stored = answer.Value;

        var list = new RecommendationList(count) { Degraded = degraded };
        try
        {
            Compute(bundle, user, fresh.Plays, stored, count, excludePlayed, excluded, list);
            metrics.RecommendSource(list.Source.Name());
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
            // The user's vector, played row and stored artists each sit somewhere in tens of MB of mapped file (a cache
            // miss apiece): started together, the misses overlap instead of following one another.
            VectorMath.Prefetch(AlsParts.Of(bundle).Tracks.UserFactors.Row(user));
            bundle.Played.Prefetch(user);
            bundle.UserArtists?.Prefetch(user);
        }
        // The user's plays: the model's row (sorted by track), used in place unless fresh plays are merged into a copy.
        var userTracks = user >= 0 ? bundle.Played.RowIndices(user) : default;
        var userPlays = user >= 0 ? bundle.Played.RowValues(user) : default;
        int[]? mergedTracks = null;
        float[]? mergedPlays = null, vector = null;
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
            var listened = freshKnown == 0 && user >= 0 ? reasons.StoredTopArtists(bundle, user, artists) : -1;
            if (listened < 0) listened = reasons.TopArtists(bundle, userTracks, userPlays, artists);
            reasons.Prefetch(bundle, artists[..listened]);

            var ids = list.Tracks.AsSpan(0, count);
            var scores = list.Scores.AsSpan(0, count);
            var played = excludePlayed ? userTracks : default;
            if (freshKnown > 0 && foldIn.FoldIn(bundle, userTracks, userPlays, (vector = ArrayPool<float>.Shared.Rent(AlsParts.Of(bundle).Tracks.Factors)).AsSpan(0, AlsParts.Of(bundle).Tracks.Factors)))
            {
                list.Source = RecommendationSource.Realtime;
                list.Count = engine.RecommendFor(bundle, vector.AsSpan(0, AlsParts.Of(bundle).Tracks.Factors), played, excluded, ids, scores);
            }
            else if (stored is not null && freshKnown == 0 && FromStored(bundle, stored, excluded, ids, scores) is var m and > 0)
            {
                list.Source = RecommendationSource.Precomputed;
                list.Count = m;
            }
            else if (user >= 0)
            {
                list.Source = RecommendationSource.Model;
                list.Count = engine.RecommendFor(bundle, AlsParts.Of(bundle).Tracks.UserFactors.Row(user), played, excluded, ids, scores);
            }
            else
            {
                list.Source = RecommendationSource.Popular;
                list.Count = engine.Popular(bundle, excluded, ids, scores);
            }

            // The response will name these tracks: their strings load while the reasons are worked out.
            bundle.PrefetchTrackListing(list.Tracks.AsSpan(0, list.Count));
            var why = list.ReasonArtists.AsSpan(0, list.Count);
            if (listened == 0) why.Fill(-1);
            else reasons.Explain(bundle, artists[..listened], list.Tracks.AsSpan(0, list.Count), why);
        }
        finally
        {
            if (mergedTracks is not null) ArrayPool<int>.Shared.Return(mergedTracks);
            if (mergedPlays is not null) ArrayPool<float>.Shared.Return(mergedPlays);
            if (vector is not null) ArrayPool<float>.Shared.Return(vector);
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

    /// <summary>
    /// Fills ids/scores from a stored list of this model version, skipping <paramref name="excluded"/>; 0 (use
    /// another source) when the list is of another version or too short to give ids.Length tracks.
    /// </summary>
    private static int FromStored(ModelBundle bundle, byte[] stored, ReadOnlySpan<int> excluded, Span<int> ids, Span<float> scores)
    {
        var tracks = ArrayPool<int>.Shared.Rent(RecommendationEngine.MaxCount);
        var values = ArrayPool<float>.Shared.Rent(RecommendationEngine.MaxCount);
        try
        {
            var n = PrecomputedList.Decode(stored, bundle.Version, tracks.AsSpan(0, RecommendationEngine.MaxCount), values.AsSpan(0, RecommendationEngine.MaxCount));
            var kept = 0;
            for (var i = 0; i < n && kept < ids.Length; i++)
            {
                if ((uint)tracks[i] >= (uint)bundle.Tracks.Count) return 0; // not a list of this model after all
                if (excluded.Contains(tracks[i])) continue;
                ids[kept] = tracks[i];
                scores[kept++] = values[i];
            }
            return kept == ids.Length ? kept : 0;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(tracks);
            ArrayPool<float>.Shared.Return(values);
        }
    }
}
