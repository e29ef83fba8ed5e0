using RecService.Core.Ids;
using System.Diagnostics.CodeAnalysis;
using Grpc.Core;

namespace RecService.Serving.Rpc;

/// <summary>Throw helpers for the RPC errors the API promises; JSON transcoding maps them to 400, 404, 409, 429 and 503.</summary>
internal static class RpcErrors
{
    /// <summary>Longest id (user, track, artist, station) any RPC takes, in UTF-8 bytes: ingest's bound (<see cref="IdLimits"/>).</summary>
    public const int MaxIdBytes = IdLimits.MaxUtf8Bytes;
    /// <summary>Characters of a caller's value an error message repeats; longer values are cut with an ellipsis.</summary>
    public const int EchoedChars = 48;

    [DoesNotReturn]
    public static void InvalidArgument(string message) => throw new RpcException(new Status(StatusCode.InvalidArgument, message));

    [DoesNotReturn]
    public static void NotFound(string message) => throw new RpcException(new Status(StatusCode.NotFound, message));

    [DoesNotReturn]
    public static void Unavailable(string message) => throw new RpcException(new Status(StatusCode.Unavailable, message));

    [DoesNotReturn]
    public static void Aborted(string message) => throw new RpcException(new Status(StatusCode.Aborted, message));

    [DoesNotReturn]
    public static void ResourceExhausted(string message) => throw new RpcException(new Status(StatusCode.ResourceExhausted, message));

    /// <summary>In-process state is full: a new user or station is refused (as Redis' noeviction would), never kept and then dropped.</summary>
    [DoesNotReturn]
    public static void StateFull(string what, bool redisDown) => ResourceExhausted(
        $"The replica's in-process state is full{(redisDown ? " (Redis is unreachable)" : "")}: it holds as many {what} as " +
        "Serving:State:LocalLimit allows. Nothing was kept; retry later.");

    /// <summary>A caller's value as an error message repeats it: at most <see cref="EchoedChars"/> characters, then an ellipsis.</summary>
    public static string Echo(string value)
    {
        if (value.Length <= EchoedChars) return value;
        var cut = char.IsHighSurrogate(value[EchoedChars - 1]) ? EchoedChars - 1 : EchoedChars; // never half a pair
        return string.Concat(value.AsSpan(0, cut), "…");
    }

    /// <summary>Response header (gRPC metadata and REST) on answers given without Redis, besides the messages' <c>degraded</c> field.</summary>
    public const string DegradedHeader = "x-recservice-degraded";

    public static void MarkDegraded(ServerCallContext context) => context.GetHttpContext().Response.Headers[DegradedHeader] = "redis-unavailable";

    /// <summary>A requested result count: 0 means the default, otherwise 1..<paramref name="max"/>.</summary>
    public static int Count(int requested, int defaultCount, int max)
    {
        if (requested == 0) return defaultCount;
        if (requested < 1 || requested > max) InvalidArgument($"count must be between 1 and {max} (got {requested}).");
        return requested;
    }

    /// <summary>A present id of at most <see cref="MaxIdBytes"/> UTF-8 bytes; checked before any lookup (a length compare, bytes counted only near the bound).</summary>
    public static void RequireId(string value, string field)
    {
        if (string.IsNullOrWhiteSpace(value)) InvalidArgument($"{field} is required.");
        if (!IdLimits.Fits(value))
            InvalidArgument($"{field} is longer than {MaxIdBytes} UTF-8 bytes.");
    }
}
