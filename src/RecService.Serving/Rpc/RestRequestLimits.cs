using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace RecService.Serving.Rpc;

/// <summary>
/// REST requests checked before transcoding reads them, each refusal with the JSON error body (<see cref="RestErrors"/>):
/// a URL past <see cref="ServingOptions.LimitSettings.MaxUrlBytes"/> is 414, a body that is not JSON 415, a body whose
/// length is past <see cref="ServingOptions.LimitSettings.MaxRequestBodyBytes"/> 413 without reading it. A body sent
/// without a length is read here first and meets Kestrel's own limit (the same setting) on the way, also 413. No
/// route is 404, and the router's other refusals (405) get the body too. Runs after routing; gRPC calls pass through
/// (their bound is gRPC's MaxReceiveMessageSize), and a routed request without a body costs a few compares.
/// </summary>
public sealed class RestRequestLimits(RequestDelegate next, IOptions<ServingOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentType is { } grpc && grpc.StartsWith("application/grpc", StringComparison.Ordinal)) return next(context);
        var limits = options.Value.Limits;
        if ((context.Features.Get<IHttpRequestFeature>()?.RawTarget.Length ?? 0) > limits.MaxUrlBytes)
            return Refuse(context, StatusCodes.Status414UriTooLong);
        if (request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0))
        {
            if (!IsJson(request.ContentType)) return Refuse(context, StatusCodes.Status415UnsupportedMediaType);
            if (request.ContentLength > limits.MaxRequestBodyBytes) return Refuse(context, StatusCodes.Status413PayloadTooLarge);
            return WithBodyAsync(context);
        }
        var endpoint = context.GetEndpoint();
        if (endpoint is null) return Refuse(context, StatusCodes.Status404NotFound);
        // The router's rejection endpoints (405) carry no metadata; every mapped route does.
        return endpoint.Metadata.Count == 0 ? WithErrorBodyAsync(context) : next(context);
    }

    private async Task WithBodyAsync(HttpContext context)
    {
        if (context.Request.ContentLength is null && !await BufferedAsync(context)) return;
        if (context.GetEndpoint() is null) await Refuse(context, StatusCodes.Status404NotFound);
        else await WithErrorBodyAsync(context);
    }

    /// <summary>Runs the endpoint and gives an error it answered without a body the JSON error body.</summary>
    private async Task WithErrorBodyAsync(HttpContext context)
    {
        await next(context);
        var response = context.Response;
        if (response.StatusCode >= 400 && !response.HasStarted && response.ContentLength is null && string.IsNullOrEmpty(response.ContentType))
            await Refuse(context, response.StatusCode);
    }

    /// <summary>
    /// Reads a body sent without a length (chunked) here, where Kestrel's limit (the same setting) can be answered 413:
    /// transcoding would turn it into a 400. Bounded by the limit; false when refused.
    /// </summary>
    private static async Task<bool> BufferedAsync(HttpContext context)
    {
        var body = new MemoryStream();
        try
        {
            await context.Request.Body.CopyToAsync(body, context.RequestAborted);
        }
        catch (BadHttpRequestException ex)
        {
            await Refuse(context, ex.StatusCode);
            return false;
        }
        body.Position = 0;
        context.Request.Body = body;
        context.Request.ContentLength = body.Length;
        return true;
    }

    private static Task Refuse(HttpContext context, int status)
    {
        var (code, message) = RestErrors.Describe(status, context.Request.Method, context.Request.Path);
        return RestErrors.WriteAsync(context.Response, status, code, message);
    }

    /// <summary><c>application/json</c> or a <c>+json</c> type, any parameters; what transcoding reads.</summary>
    private static bool IsJson(string? contentType)
    {
        if (contentType is null) return false;
        var type = contentType.AsSpan();
        var end = type.IndexOf(';');
        if (end >= 0) type = type[..end];
        type = type.Trim();
        return type.Equals("application/json", StringComparison.OrdinalIgnoreCase) || type.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }
}
