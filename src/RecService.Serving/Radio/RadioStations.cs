using System.Buffers;
using System.Numerics.Tensors;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Serving.Recommendations;

namespace RecService.Serving.Radio;

/// <summary>
/// Radio logic on a <see cref="RadioStation"/> (the store keeps it; this changes it): a station starts from the seed's
/// nearest tracks by cosine (at most a few per artist), shuffled, with a seed track first; the queue is topped up
/// from the seed and the latest liked tracks when it runs out (the per-artist cap applies per batch); thumbs up pulls the liked track's neighbours to the
/// front, thumbs down drops the track and moves its neighbours to the back. Played and disliked tracks never come
/// back. An artist seed searches from the mean direction of the artist's tracks.
/// </summary>
public sealed class RadioStations(RecommendationEngine engine, IOptions<ServingOptions> options)
{
    /// <summary>Candidates searched per wanted track, so the per-artist cap still leaves enough.</summary>
    private const int CandidateFactor = 4;
    private const int MaxCandidates = 4000;
    /// <summary>Liked tracks (latest first) that also seed refills.</summary>
    private const int RefillLikedSeeds = 3;

    private ServingOptions.RadioSettings Options => options.Value.Radio;

    public RadioStation Start(ModelBundle bundle, StationSeedKind kind, int seed, string? id = null, string? model = null)
    {
        var seedId = kind == StationSeedKind.Track ? bundle.Tracks[seed] : bundle.Artists[seed];
        var station = new RadioStation
        {
            Id = id ?? RadioStation.NewId(kind, seedId), SeedKind = kind, SeedId = seedId, Started = DateTimeOffset.UtcNow,
            Model = string.IsNullOrEmpty(model) ? null : model,
        };
        if (kind == StationSeedKind.Track) station.Queue.Add(new QueuedTrack(seedId));
        var excluded = kind == StationSeedKind.Track ? [seed] : Array.Empty<int>();
        var fresh = Candidates(bundle, station, seed, Options.StationSize - station.Queue.Count, excluded, because: null);
        Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(fresh));
        station.Queue.AddRange(fresh);
        return station;
    }

    /// <summary>A station made again from the seed its id names (Redis unreachable and no local copy); null if the id or seed is unknown.</summary>
    public RadioStation? Rebuild(ModelBundle bundle, string stationId)
    {
        if (!RadioStation.TryParseId(stationId, out var kind, out var seedId)) return null;
        var seed = kind == StationSeedKind.Track ? bundle.Tracks.IndexOf(seedId) : bundle.Artists.IndexOf(seedId);
        return seed < 0 ? null : Start(bundle, kind, seed, stationId);
    }

    /// <summary>
    /// Takes the next <paramref name="count"/> playable tracks off the queue and marks them played; an empty queue is
    /// refilled (about half a station near the seed and the latest liked tracks) when the request needs more.
    /// </summary>
    public List<QueuedTrack> Next(ModelBundle bundle, RadioStation station, int count)
    {
        var played = station.Played.ToHashSet();
        var disliked = station.Disliked.ToHashSet();
        var taken = new List<QueuedTrack>(count);
        var refilled = false;
        while (taken.Count < count)
        {
            if (station.Queue.Count == 0)
            {
                if (refilled) break; // the catalog around the seeds is exhausted
                Refill(bundle, station);
                refilled = true;
                continue;
            }
            var next = station.Queue[0];
            station.Queue.RemoveAt(0);
            if (played.Contains(next.Id) || disliked.Contains(next.Id) || bundle.Tracks.IndexOf(next.Id) < 0) continue;
            played.Add(next.Id);
            station.Played.Add(next.Id);
            taken.Add(next);
        }
        Bound(station);
        return taken;
    }

    /// <summary>Thumbs up: the liked track's nearest unplayed neighbours go to the front of the queue. Returns how many were new to it.</summary>
    public int Like(ModelBundle bundle, RadioStation station, int track)
    {
        var id = bundle.Tracks[track];
        station.Disliked.Remove(id);
        if (!station.Liked.Contains(id)) station.Liked.Add(id);
        var near = Neighbours(bundle, station, track, Options.LikeNeighbours, Indices(bundle, station.Played.Concat(station.Disliked)));
        var alreadyQueued = station.Queue.RemoveAll(q => near.Contains(q.Id));
        var front = near.Select(t => new QueuedTrack(t, id)).ToArray();
        Random.Shared.Shuffle(front);
        station.Queue.InsertRange(0, front);
        Bound(station);
        return front.Length - alreadyQueued;
    }

    /// <summary>Thumbs down: the track leaves the queue for good and its nearest neighbours move to the back. Returns (removed, demoted).</summary>
    public (int Removed, int Demoted) Dislike(ModelBundle bundle, RadioStation station, int track)
    {
        var id = bundle.Tracks[track];
        station.Liked.Remove(id);
        if (!station.Disliked.Contains(id)) station.Disliked.Add(id);
        var removed = station.Queue.RemoveAll(q => q.Id == id);
        var near = Neighbours(bundle, station, track, Options.DislikeNeighbours, []);
        var demoted = station.Queue.Where(q => near.Contains(q.Id)).ToList();
        station.Queue.RemoveAll(q => near.Contains(q.Id));
        station.Queue.AddRange(demoted);
        Bound(station);
        return (removed, demoted.Count);
    }

    /// <summary>
    /// Keeps a station's lists within their bounds (oldest history first, the queue's back first), so however long it
    /// is used its stored size stays bounded: <see cref="ServingOptions.RadioSettings.MaxHistory"/> each of played,
    /// liked and disliked, and twice <see cref="ServingOptions.RadioSettings.StationSize"/> queued.
    /// </summary>
    private void Bound(RadioStation station)
    {
        var history = Options.MaxHistory;
        foreach (var list in (List<string>[])[station.Played, station.Liked, station.Disliked])
        {
            if (list.Count > history) list.RemoveRange(0, list.Count - history);
        }
        var queued = 2 * Options.StationSize;
        if (station.Queue.Count > queued) station.Queue.RemoveRange(queued, station.Queue.Count - queued);
    }

    /// <summary>The ids of the <paramref name="count"/> tracks nearest <paramref name="track"/> by cosine, skipping <paramref name="excluded"/>.</summary>
    private HashSet<string> Neighbours(ModelBundle bundle, RadioStation station, int track, int count, int[] excluded)
    {
        var ids = ArrayPool<int>.Shared.Rent(count);
        var scores = ArrayPool<float>.Shared.Rent(count);
        try
        {
            var n = engine.NearTracks(bundle, By(bundle, station), track, excluded, ids.AsSpan(0, count), scores.AsSpan(0, count));
            var near = new HashSet<string>(n);
            for (var i = 0; i < n; i++) near.Add(bundle.Tracks.Decode(ids[i]));
            return near;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>Appends about half a station of new tracks (shuffled) near the seed and the latest liked tracks.</summary>
    private void Refill(ModelBundle bundle, RadioStation station)
    {
        var excluded = Indices(bundle, station.Played.Concat(station.Disliked).Concat(station.Queue.Select(q => q.Id)));
        var seeds = new List<(int Track, string? Because)>();
        foreach (var liked in Enumerable.Reverse(station.Liked).Take(RefillLikedSeeds))
        {
            var t = bundle.Tracks.IndexOf(liked);
            if (t >= 0) seeds.Add((t, liked));
        }
        var wanted = Math.Max(1, Options.StationSize / 2);
        var fresh = new List<QueuedTrack>();
        var seed = station.SeedKind == StationSeedKind.Track ? bundle.Tracks.IndexOf(station.SeedId) : bundle.Artists.IndexOf(station.SeedId);
        if (seed >= 0) fresh.AddRange(Candidates(bundle, station, seed, wanted / (1 + seeds.Count), excluded, because: null));
        foreach (var (track, because) in seeds)
        {
            var more = Candidates(bundle, station, track, wanted / (1 + seeds.Count), excluded, because, byTrack: true);
            fresh.AddRange(more.Where(m => !fresh.Any(f => f.Id == m.Id)));
        }
        Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(fresh));
        station.Queue.AddRange(fresh);
    }

    /// <summary>
    /// Up to <paramref name="wanted"/> tracks nearest the seed (a track, or an artist's direction), at most
    /// <see cref="ServingOptions.RadioSettings.TracksPerArtist"/> per artist, skipping <paramref name="excluded"/>.
    /// </summary>
    private List<QueuedTrack> Candidates(ModelBundle bundle, RadioStation station, int seed, int wanted, int[] excluded, string? because, bool byTrack = false)
    {
        var result = new List<QueuedTrack>(Math.Max(0, wanted));
        if (wanted <= 0) return result;
        var k = Math.Min(Math.Min(bundle.Tracks.Count, MaxCandidates), wanted * CandidateFactor);
        var ids = ArrayPool<int>.Shared.Rent(k);
        var scores = ArrayPool<float>.Shared.Rent(k);
        try
        {
            int n;
            if (byTrack || station.SeedKind == StationSeedKind.Track)
                n = engine.StationTracks(bundle, By(bundle, station), seed, Options.TracksPerArtist, excluded, ids.AsSpan(0, k), scores.AsSpan(0, k));
            else if (By(bundle, station) is { Ranker: not null } ensemble && MostPlayed(bundle, seed) is var top && top >= 0)
            {
                // The ensemble ranks tracks against a track: the artist's most played one stands for the artist (its
                // pool is the artist's and its nearest artists' tracks either way), and is a candidate like the others.
                n = engine.StationTracks(bundle, ensemble, top, Options.TracksPerArtist, excluded, ids.AsSpan(0, k - 1), scores.AsSpan(0, k - 1));
                if (!excluded.Contains(top))
                {
                    ids[n] = top;
                    scores[n++] = 1;
                }
            }
            else
            {
                var direction = ArtistDirection(bundle, seed);
                if (direction is null) return result;
                n = engine.NearTracks(bundle, direction, excluded, ids.AsSpan(0, k), scores.AsSpan(0, k));
            }
            var perArtist = new Dictionary<int, int>();
            for (var i = 0; i < n && result.Count < wanted; i++)
            {
                var artist = bundle.Catalog.ArtistOf(ids[i]);
                var already = perArtist.GetValueOrDefault(artist);
                if (already >= Options.TracksPerArtist) continue;
                perArtist[artist] = already + 1;
                result.Add(new QueuedTrack(bundle.Tracks.Decode(ids[i]), because));
            }
            return result;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    /// <summary>What picks the station's tracks in this bundle: its model if the bundle has it, else the default.</summary>
    private static ItemNeighbours By(ModelBundle bundle, RadioStation station) =>
        ItemNeighbours.TryResolve(bundle, IdSpaces.Tracks, station.Model, out var by, out _) ? by
        : ItemNeighbours.TryResolve(bundle, IdSpaces.Tracks, null, out by, out _) ? by : default;

    /// <summary>
    /// The unit vector a station's seed stands for in this model: the seed track's, or the direction of its artist's
    /// tracks; null when the model does not know the seed. Items are scored against it.
    /// </summary>
    public static float[]? SeedDirection(ModelBundle bundle, RadioStation station)
    {
        float[]? direction;
        if (station.SeedKind == StationSeedKind.Track)
        {
            var track = bundle.Tracks.IndexOf(station.SeedId);
            if (track < 0) return null;
            direction = AlsParts.Of(bundle).Tracks.ItemFactors.Row(track).ToArray();
        }
        else
        {
            var artist = bundle.Artists.IndexOf(station.SeedId);
            direction = artist < 0 ? null : ArtistDirection(bundle, artist);
        }
        if (direction is null) return null;
        var norm = TensorPrimitives.Norm(direction);
        if (!(norm > 0)) return null;
        TensorPrimitives.Divide(direction, norm, direction);
        return direction;
    }

    /// <summary>Cosine of a track's vector with a unit <paramref name="direction"/> (0 for a zero track vector).</summary>
    public static float Similarity(ModelBundle bundle, int track, ReadOnlySpan<float> direction)
    {
        var model = AlsParts.Of(bundle).Tracks;
        return Cosine(TensorPrimitives.Dot(model.ItemFactors.Row(track), direction) * model.CosineForest.InverseNorm(track));
    }

    /// <summary>Cosine of two tracks' vectors.</summary>
    public static float Similarity(ModelBundle bundle, int track, int other)
    {
        var model = AlsParts.Of(bundle).Tracks;
        var cosine = model.CosineForest;
        return Cosine(TensorPrimitives.Dot(model.ItemFactors.Row(track), model.ItemFactors.Row(other)) * cosine.InverseNorm(track) * cosine.InverseNorm(other));
    }

    // The stored 1/|y| and a norm computed here round differently: a track against itself can come out at 1.0000001.
    private static float Cosine(float value) => Math.Clamp(value, -1f, 1f);

    /// <summary>The mean of the artist's unit track vectors (track space: artist vectors come from another model); null if it has no tracks.</summary>
    private static float[]? ArtistDirection(ModelBundle bundle, int artist)
    {
        var model = AlsParts.Of(bundle).Tracks;
        var sum = new float[model.Factors];
        var unit = new float[model.Factors];
        var found = 0;
        foreach (var t in bundle.Catalog.TracksOf(artist))
        {
            // The cosine forest stores 1/|y| for every track (0 for a zero vector): read, not recomputed.
            var inverseNorm = model.CosineForest.InverseNorm(t);
            if (!(inverseNorm > 0)) continue;
            TensorPrimitives.Multiply(model.ItemFactors.Row(t), inverseNorm, unit);
            TensorPrimitives.Add(sum, unit, sum);
            found++;
        }
        return found > 0 ? sum : null;
    }

    /// <summary>The artist's most played track, or -1 when it has none.</summary>
    private static int MostPlayed(ModelBundle bundle, int artist) =>
        bundle.Catalog.TracksOf(artist) is { IsEmpty: false } tracks ? tracks[0] : -1;

    private static int[] Indices(ModelBundle bundle, IEnumerable<string> ids)
    {
        var list = new List<int>();
        foreach (var id in ids)
        {
            var t = bundle.Tracks.IndexOf(id);
            if (t >= 0) list.Add(t);
        }
        return [.. list];
    }
}
