using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace RecService.Serving.Rpc;

/// <summary>
/// REST requests checked before transcoding reads them, each refusal with the JSON error body: a URL past
/// <see cref="ServingOptions.LimitSettings.MaxUrlBytes"/> is 414, a body that is not JSON 415, a body whose length is
/// past <see cref="ServingOptions.LimitSettings.MaxRequestBodyBytes"/> 413 without reading it. A body sent without a
/// length is read here first and meets Kestrel's own limit (the same setting) on the way, also 413. gRPC calls
/// pass through: their bound is gRPC's MaxReceiveMessageSize.
/// </summary>
public sealed class RestRequestLimits(RequestDelegate next, IOptions<ServingOptions> options)
{
    public async Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (request.ContentType is { } grpc && grpc.StartsWith("application/grpc", StringComparison.Ordinal))
        {
            await next(context);
            return;
        }
        var limits = options.Value.Limits;
        if ((context.Features.Get<IHttpRequestFeature>()?.RawTarget.Length ?? 0) > limits.MaxUrlBytes)
        {
            await Refuse(context, StatusCodes.Status414UriTooLong);
            return;
        }
        if (request.ContentLength > 0 || (request.ContentLength is null && request.Headers.TransferEncoding.Count > 0))
        {
            if (!IsJson(request.ContentType))
            {
                await Refuse(context, StatusCodes.Status415UnsupportedMediaType);
                return;
            }
            if (request.ContentLength > limits.MaxRequestBodyBytes)
            {
                await Refuse(context, StatusCodes.Status413PayloadTooLarge);
                return;
            }
            if (request.ContentLength is null && !await BufferedAsync(context)) return;
        }
        await next(context);
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
