using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Serving.Models;
using RecService.Serving.Radio;

namespace RecService.Serving.Rpc;

/// <summary>
/// The recservice.v1 Radio API: validates requests, resolves ids against the leased bundle, and runs the station
/// logic (<see cref="RadioStations"/>) inside the store's read-change-write (<see cref="StationStore"/>).
/// </summary>
[BindServiceMethod(typeof(RadioService), nameof(BindService))]
public sealed class RadioService(ModelHolder holder, RadioStations stations, StationStore store) : Api.V1.Radio.RadioBase
{
    /// <summary>The generated binding, with malformed requests answered INVALID_ARGUMENT (<see cref="ParseFailureBinder"/>).</summary>
    public static void BindService(ServiceBinderBase binder, Api.V1.Radio.RadioBase? service) => Api.V1.Radio.BindService(new ParseFailureBinder(binder), service);

    /// <summary>The service's descriptor, where transcoding and reflection look for it: beside <see cref="BindService"/>.</summary>
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => Api.V1.Radio.Descriptor;

    public const int DefaultTracks = 10;
    public const int MaxTracks = 100;

    public override async Task<StationTracks> StartRadio(StartRadioRequest request, ServerCallContext context)
    {
        var count = RpcErrors.Count(request.Count, DefaultTracks, MaxTracks);
        using var lease = Lease();
        var bundle = lease.Bundle;
        RadioStation station;
        switch (request.SeedCase)
        {
            case StartRadioRequest.SeedOneofCase.TrackId:
                RpcErrors.RequireId(request.TrackId, "track_id");
                var track = bundle.Tracks.IndexOf(request.TrackId);
                if (track < 0) RpcErrors.NotFound($"Track '{RpcErrors.Echo(request.TrackId)}' is not in model {bundle.Version}.");
                station = stations.Start(bundle, StationSeedKind.Track, track, model: Model(bundle, request.Model));
                break;
            case StartRadioRequest.SeedOneofCase.ArtistId:
                RpcErrors.RequireId(request.ArtistId, "artist_id");
                var artist = bundle.Artists.IndexOf(request.ArtistId);
                if (artist < 0) RpcErrors.NotFound($"Artist '{RpcErrors.Echo(request.ArtistId)}' is not in model {bundle.Version}.");
                station = stations.Start(bundle, StationSeedKind.Artist, artist, model: Model(bundle, request.Model));
                break;
            default:
                RpcErrors.InvalidArgument("A station needs a seed: track_id or artist_id.");
                return null!;
        }
        var first = stations.Next(bundle, station, count);
        var created = await store.CreateAsync(station);
        if (created == StationCreated.Refused) RpcErrors.StateFull("stations", store.RedisConfigured);
        if (created == StationCreated.LimitReached)
            RpcErrors.ResourceExhausted("Redis holds as many live stations as Serving:Radio:MaxStations allows: nothing was kept; retry later.");
        return Tracks(context, bundle, station, first, created == StationCreated.StoredLocally);
    }

    /// <summary>The station's model, checked against the bundle (NOT_FOUND naming the part when it lacks it).</summary>
    private static string? Model(ModelBundle bundle, string model) =>
        string.IsNullOrEmpty(model) ? null : RecommenderService.Neighbours(bundle, IdSpaces.Tracks, model).Name;

    public override async Task<StationTracks> NextTracks(NextTracksRequest request, ServerCallContext context)
    {
        RpcErrors.RequireId(request.StationId, "station_id");
        var count = RpcErrors.Count(request.Count, DefaultTracks, MaxTracks);
        using var lease = Lease();
        var bundle = lease.Bundle;
        RadioStation? changed = null;
        var change = await store.UpdateAsync(request.StationId, s =>
        {
            changed = s;
            return stations.Next(bundle, s, count);
        }, () => stations.Rebuild(bundle, request.StationId));
        RequireChanged(request.StationId, change);
        return Tracks(context, bundle, changed!, change.Result!, change.Degraded);
    }

    public override async Task<FeedbackResponse> Feedback(FeedbackRequest request, ServerCallContext context)
    {
        RpcErrors.RequireId(request.StationId, "station_id");
        RpcErrors.RequireId(request.TrackId, "track_id");
        if (request.Thumb is not (Thumb.Up or Thumb.Down)) RpcErrors.InvalidArgument("thumb must be THUMB_UP or THUMB_DOWN.");
        using var lease = Lease();
        var bundle = lease.Bundle;
        var track = bundle.Tracks.IndexOf(request.TrackId);
        if (track < 0) RpcErrors.NotFound($"Track '{RpcErrors.Echo(request.TrackId)}' is not in model {bundle.Version}.");
        var change = await store.UpdateAsync(request.StationId, s =>
        {
            var response = new FeedbackResponse { StationId = s.Id };
            if (request.Thumb == Thumb.Up) response.Added = stations.Like(bundle, s, track);
            else (response.Removed, response.Demoted) = stations.Dislike(bundle, s, track);
            response.Queued = s.Queue.Count;
            return response;
        }, () => stations.Rebuild(bundle, request.StationId));
        RequireChanged(request.StationId, change);
        var result = change.Result!;
        result.Degraded = change.Degraded;
        if (change.Degraded) RpcErrors.MarkDegraded(context);
        return result;
    }

    private static void RequireChanged<T>(string id, StationChange<T> change)
    {
        if (change.Refused) RpcErrors.StateFull("stations", redisDown: true);
        if (change.Contended) RpcErrors.Aborted($"Station '{RpcErrors.Echo(id)}' is being changed by other requests at the same moment; retry.");
        if (change.Found) return;
        if (change.Degraded) RpcErrors.Unavailable($"Station '{RpcErrors.Echo(id)}' cannot be read: Redis is unreachable and the id names no known seed.");
        RpcErrors.NotFound($"Station '{RpcErrors.Echo(id)}' is unknown or expired.");
    }

    private static StationTracks Tracks(ServerCallContext context, ModelBundle bundle, RadioStation station, List<QueuedTrack> tracks, bool degraded)
    {
        var response = new StationTracks { StationId = station.Id, ModelVersion = bundle.Version, Queued = station.Queue.Count, Degraded = degraded };
        var seedReason = station.SeedKind == StationSeedKind.Track
            ? bundle.Tracks.IndexOf(station.SeedId) is var s and >= 0 ? $"radio from {bundle.Catalog.Title(s)}" : "radio"
            : bundle.Artists.IndexOf(station.SeedId) is var a and >= 0 ? $"radio from {bundle.Catalog.ArtistName(a)}" : "radio";
        // Scores are cosines, in the model serving now, with what put each track in the station: the liked track, else
        // the seed (its direction worked out once, and only if a track needs it).
        float[]? seed = null;
        var seedKnown = false;
        foreach (var queued in tracks)
        {
            var track = bundle.Tracks.IndexOf(queued.Id);
            if (track < 0) continue;
            var liked = queued.Because is null ? -1 : bundle.Tracks.IndexOf(queued.Because);
            if (liked < 0 && !seedKnown) (seed, seedKnown) = (RadioStations.SeedDirection(bundle, station), true);
            var score = liked >= 0 ? RadioStations.Similarity(bundle, track, liked) : seed is null ? 0f : RadioStations.Similarity(bundle, track, seed);
            var item = RecommenderService.TrackItem(bundle, track, score);
            item.Reason = liked >= 0 ? $"because you liked {bundle.Catalog.Title(liked)}" : seedReason;
            response.Items.Add(item);
        }
        if (degraded) RpcErrors.MarkDegraded(context);
        return response;
    }

    private BundleLease Lease()
    {
        if (!holder.TryLease(out var lease)) RpcErrors.Unavailable("No model is loaded yet.");
        return lease;
    }
}
