using System.Buffers;
using Google.Api;
using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Serving.Models;
using RecService.Serving.Recommendations;
using RecService.Serving.Taste;

namespace RecService.Serving.Rpc;

/// <summary>
/// The recservice.v1 API: validates requests, resolves ids against the leased bundle, asks the engine, and maps
/// dense indices back to ids and names. Holds no logic of its own beyond that mapping.
/// </summary>
[BindServiceMethod(typeof(RecommenderService), nameof(BindService))]
public sealed class RecommenderService(
    ModelHolder holder,
    RecommendationEngine engine,
    UserRecommendations users,
    RecommendationReasons reasons,
    FreshPlayStore freshPlays)
    : Recommender.RecommenderBase
{
    public const int DefaultTracks = 10;
    public const int DefaultArtists = 20;

    public const int MaxPlaysPerCall = 1000;
    /// <summary>Extra exclusions per Recommend: thumbs-down lists are short, and the bound keeps the per-request scan cheap.</summary>
    public const int MaxExcludedTracks = 1000;
    public const int MaxPlayCount = 10_000;

    /// <summary>The generated binding, with malformed requests answered INVALID_ARGUMENT (<see cref="ParseFailureBinder"/>).</summary>
    public static void BindService(ServiceBinderBase binder, Recommender.RecommenderBase? service) => Recommender.BindService(new ParseFailureBinder(binder), service);

    /// <summary>The service's descriptor, where transcoding and reflection look for it: beside <see cref="BindService"/>.</summary>
    public static Google.Protobuf.Reflection.ServiceDescriptor Descriptor => Recommender.Descriptor;

    public override Task<RecommendResponse> Recommend(RecommendRequest request, ServerCallContext context) =>
        Recommend(request, context, static (service, bundle, list) => service.Message(bundle, list));

    public override Task<HttpBody> RecommendJson(RecommendRequest request, ServerCallContext context) =>
        Recommend(request, context, static (_, bundle, list) => new HttpBody { ContentType = RecommendationJson.ContentType, Data = RecommendationJson.Write(bundle, list) });

    /// <summary>Validates the request, makes the list on the leased bundle and renders it while the lease holds.</summary>
    private async Task<T> Recommend<T>(RecommendRequest request, ServerCallContext context, Func<RecommenderService, ModelBundle, RecommendationList, T> render)
    {
        RpcErrors.RequireId(request.UserId, "user_id");
        var count = RpcErrors.Count(request.Count, DefaultTracks, RecommendationEngine.MaxCount);
        if (request.ExcludeTrackIds.Count > MaxExcludedTracks)
            RpcErrors.InvalidArgument($"exclude_track_ids holds at most {MaxExcludedTracks} ids (got {request.ExcludeTrackIds.Count}).");
        foreach (var trackId in request.ExcludeTrackIds) RpcErrors.RequireId(trackId, "exclude_track_ids");
        using var lease = Lease();
        var bundle = lease.Bundle;
        var excluded = ArrayPool<int>.Shared.Rent(request.ExcludeTrackIds.Count);
        try
        {
            var nExcluded = 0;
            foreach (var trackId in request.ExcludeTrackIds)
            {
                var t = bundle.Tracks.IndexOf(trackId);
                if (t >= 0) excluded[nExcluded++] = t; // unknown ids cannot be recommended anyway
            }
            using var list = await users.ForUserAsync(bundle, request.UserId, count, !request.HasExcludePlayed || request.ExcludePlayed,
                new ArraySegment<int>(excluded, 0, nExcluded));
            if (list.Degraded) RpcErrors.MarkDegraded(context);
            return render(this, bundle, list);
        }
        finally
        {
            ArrayPool<int>.Shared.Return(excluded);
        }
    }

    private RecommendResponse Message(ModelBundle bundle, RecommendationList list)
    {
        var response = new RecommendResponse
        {
            ModelVersion = bundle.Version,
            Fallback = list.Fallback,
            Source = list.Source,
            Degraded = list.Degraded,
        };
        response.Items.Capacity = list.Count; // one array, not four as the list grows
        for (var i = 0; i < list.Count; i++)
        {
            var item = TrackItem(bundle, list.Tracks[i], list.Scores[i]);
            var because = list.ReasonArtists[i];
            if (because >= 0)
            {
                // Most reasons name the track's own artist: reuse the strings already decoded for the item.
                var own = because == bundle.Catalog.ArtistOf(list.Tracks[i]);
                item.ReasonArtistId = own ? item.ArtistId : bundle.Artists[because];
                item.Reason = reasons.Phrase(bundle, because);
            }
            else if (list.Fallback) item.Reason = RecommendationReasons.PopularReason;
            response.Items.Add(item);
        }
        return response;
    }

    public override async Task<RecordPlaysResponse> RecordPlays(RecordPlaysRequest request, ServerCallContext context)
    {
        RpcErrors.RequireId(request.UserId, "user_id");
        if (request.Plays.Count is 0 or > MaxPlaysPerCall) RpcErrors.InvalidArgument($"plays must hold 1 to {MaxPlaysPerCall} entries (got {request.Plays.Count}).");
        foreach (var play in request.Plays)
        {
            RpcErrors.RequireId(play.TrackId, "plays.track_id");
            if (play.Count is < 0 or > MaxPlayCount) RpcErrors.InvalidArgument($"plays.count must be between 0 and {MaxPlayCount} (got {play.Count} for '{RpcErrors.Echo(play.TrackId)}').");
        }
        var known = new List<TrackPlays>(request.Plays.Count);
        var unknown = 0;
        using (var lease = Lease())
        {
            foreach (var play in request.Plays)
            {
                if (lease.Bundle.Tracks.IndexOf(play.TrackId) < 0) unknown++;
                else known.Add(new TrackPlays(play.TrackId, play.Count == 0 ? 1 : play.Count));
            }
        }
        var appended = known.Count > 0 ? await freshPlays.AppendAsync(request.UserId, known) : default;
        if (appended.Refused) RpcErrors.StateFull("users with fresh plays", appended.Degraded);
        if (appended.Degraded) RpcErrors.MarkDegraded(context);
        return new RecordPlaysResponse { Accepted = appended.Kept, OverLimit = known.Count - appended.Kept, Unknown = unknown, Degraded = appended.Degraded };
    }

    public override Task<ItemsResponse> SimilarTracks(SimilarTracksRequest request, ServerCallContext context)
    {
        RpcErrors.RequireId(request.TrackId, "track_id");
        var count = RpcErrors.Count(request.Count, DefaultTracks, RecommendationEngine.MaxCount);
        using var lease = Lease();
        var bundle = lease.Bundle;
        var track = bundle.Tracks.IndexOf(request.TrackId);
        if (track < 0) RpcErrors.NotFound($"Track '{RpcErrors.Echo(request.TrackId)}' is not in model {bundle.Version}.");
        var by = Neighbours(bundle, IdSpaces.Tracks, request.Model);
        var response = Items(bundle, count, (ids, scores) => engine.SimilarTracks(bundle, by, track, ids, scores), TrackItem);
        response.Model = by.Name;
        return Task.FromResult(response);
    }

    public override Task<ItemsResponse> RelatedArtists(RelatedArtistsRequest request, ServerCallContext context)
    {
        RpcErrors.RequireId(request.ArtistId, "artist_id");
        var count = RpcErrors.Count(request.Count, DefaultArtists, RecommendationEngine.MaxCount);
        using var lease = Lease();
        var bundle = lease.Bundle;
        var artist = bundle.Artists.IndexOf(request.ArtistId);
        if (artist < 0) RpcErrors.NotFound($"Artist '{RpcErrors.Echo(request.ArtistId)}' is not in model {bundle.Version}.");
        var by = Neighbours(bundle, IdSpaces.Artists, request.Model);
        var response = Items(bundle, count, (ids, scores) => engine.RelatedArtists(bundle, by, artist, ids, scores), ArtistItem);
        response.Model = by.Name;
        return Task.FromResult(response);
    }

    public override Task<ModelInfo> GetModelInfo(GetModelInfoRequest request, ServerCallContext context)
    {
        using var lease = Lease();
        var bundle = lease.Bundle;
        var manifest = bundle.Manifest;
        var info = new ModelInfo
        {
            ModelVersion = bundle.Version,
            CreatedUtc = manifest.CreatedUtc.ToString("O"),
            AgeSeconds = (DateTimeOffset.UtcNow - manifest.CreatedUtc).TotalSeconds,
            Users = bundle.Users.Count,
            Tracks = bundle.Tracks.Count,
            Artists = bundle.Artists.Count,
            Factors = AlsParts.Of(bundle).Tracks.Factors,
        };
        info.Training.Add(manifest.Training);
        // A part's typed parameters beside the run's facts; a fact of the same name (a trainer's) gives way to the parameter.
        foreach (var (key, value) in manifest.AllParameters()) info.Training[key] = value;
        info.Metrics.Add(manifest.AllMetrics());
        return Task.FromResult(info);
    }

    /// <summary>The request's <c>model</c> resolved against the bundle: NOT_FOUND naming the part when it has none such.</summary>
    internal static ItemNeighbours Neighbours(ModelBundle bundle, string space, string? model)
    {
        if (model is { Length: > 0 }) RpcErrors.RequireId(model, "model");
        if (!ItemNeighbours.TryResolve(bundle, space, model, out var by, out var problem)) RpcErrors.NotFound(problem);
        return by;
    }

    private BundleLease Lease()
    {
        if (!holder.TryLease(out var lease)) RpcErrors.Unavailable("No model is loaded yet.");
        return lease;
    }

    private delegate int Search(Span<int> ids, Span<float> scores);

    private static ItemsResponse Items(ModelBundle bundle, int count, Search search, Func<ModelBundle, int, float, Item> map)
    {
        var ids = ArrayPool<int>.Shared.Rent(count);
        var scores = ArrayPool<float>.Shared.Rent(count);
        try
        {
            var n = search(ids.AsSpan(0, count), scores.AsSpan(0, count));
            var response = new ItemsResponse { ModelVersion = bundle.Version };
            response.Items.Capacity = n;
            for (var i = 0; i < n; i++) response.Items.Add(map(bundle, ids[i], scores[i]));
            return response;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(ids);
            ArrayPool<float>.Shared.Return(scores);
        }
    }

    internal static Item TrackItem(ModelBundle bundle, int track, float score)
    {
        var artist = bundle.Catalog.ArtistOf(track);
        return new Item
        {
            Id = bundle.Tracks[track],
            Name = bundle.Catalog.Title(track),
            Score = score,
            ArtistId = bundle.Artists[artist],
            ArtistName = bundle.Catalog.ArtistName(artist),
        };
    }

    private static Item ArtistItem(ModelBundle bundle, int artist, float score) =>
        new() { Id = bundle.Artists[artist], Name = bundle.Catalog.ArtistName(artist), Score = score };
}
