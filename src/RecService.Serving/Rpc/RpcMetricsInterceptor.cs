using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Core.Interceptors;
using RecService.Serving.Telemetry;

namespace RecService.Serving.Rpc;

/// <summary>
/// Times every unary call, gRPC or transcoded REST, and records it with its final status code, so error rates
/// and latency come from one histogram.
/// </summary>
public sealed class RpcMetricsInterceptor(ServingMetrics metrics) : Interceptor
{
    // "/recservice.v1.Recommender/Recommend" -> "Recommend", computed once per method rather than per call.
    private static readonly ConcurrentDictionary<string, string> ShortNames = new();

    /// <summary>The method's own name, except that REST's rendering of Recommend (RecommendJson) counts as Recommend.</summary>
    private static string ShortName(string method)
    {
        var name = method[(method.LastIndexOf('/') + 1)..];
        return name == nameof(RecommenderService.RecommendJson) ? nameof(RecommenderService.Recommend) : name;
    }

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(
        TRequest request, ServerCallContext context, UnaryServerMethod<TRequest, TResponse> continuation)
    {
        var start = Stopwatch.GetTimestamp();
        var status = StatusCode.OK;
        try
        {
            return await continuation(request, context);
        }
        catch (RpcException ex)
        {
            status = ex.StatusCode;
            throw;
        }
        catch
        {
            status = StatusCode.Unknown; // what gRPC sends for an unhandled exception, so the metric agrees with the wire
            throw;
        }
        finally
        {
            var method = ShortNames.GetOrAdd(context.Method, ShortName);
            var contentType = context.GetHttpContext().Request.ContentType;
            var transport = contentType is not null && contentType.StartsWith("application/grpc", StringComparison.Ordinal) ? "grpc" : "rest";
            metrics.RecordRpc(method, status.ToString(), transport, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
    }
}
