using System.Diagnostics.CodeAnalysis;
using Grpc.Core;

namespace RecService.Serving.Rpc;

/// <summary>Throw helpers for the RPC errors the API promises; JSON transcoding maps them to 400, 404 and 503.</summary>
internal static class RpcErrors
{
    [DoesNotReturn]
    public static void InvalidArgument(string message) => throw new RpcException(new Status(StatusCode.InvalidArgument, message));

    [DoesNotReturn]
    public static void NotFound(string message) => throw new RpcException(new Status(StatusCode.NotFound, message));

    [DoesNotReturn]
    public static void Unavailable(string message) => throw new RpcException(new Status(StatusCode.Unavailable, message));

    [DoesNotReturn]
    public static void Aborted(string message) => throw new RpcException(new Status(StatusCode.Aborted, message));

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

    public static void RequireId(string value, string field)
    {
        if (string.IsNullOrWhiteSpace(value)) InvalidArgument($"{field} is required.");
    }
}
