using System.Text.Encodings.Web;
using System.Text.Json;
using Grpc.Core;
using Microsoft.AspNetCore.Http;

namespace RecService.Serving.Rpc;

/// <summary>
/// REST errors the replica answers itself (before or outside transcoding: limits, unknown routes, wrong methods) in
/// the body transcoding gives every RPC error, <c>{"code": gRPC code, "message": "...", "details": []}</c>, so a client
/// reads one shape whatever refused it.
/// </summary>
public static class RestErrors
{
    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static async Task WriteAsync(HttpResponse response, int httpStatus, StatusCode code, string message)
    {
        response.StatusCode = httpStatus;
        response.ContentType = "application/json; charset=utf-8";
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, Options))
        {
            json.WriteStartObject();
            json.WriteNumber("code", (int)code);
            json.WriteString("message", message);
            json.WriteStartArray("details");
            json.WriteEndArray();
            json.WriteEndObject();
        }
        response.ContentLength = buffer.WrittenCount;
        await response.Body.WriteAsync(buffer.WrittenMemory);
    }

    /// <summary>The gRPC code and message for an HTTP status the replica's routing or limits produced without a body.</summary>
    public static (StatusCode Code, string Message) Describe(int httpStatus, string method, string path) => httpStatus switch
    {
        StatusCodes.Status404NotFound => (StatusCode.NotFound, $"No route {RpcErrors.Echo(path)}."),
        StatusCodes.Status405MethodNotAllowed => (StatusCode.Unimplemented, $"{method} is not allowed on {RpcErrors.Echo(path)}."),
        StatusCodes.Status413PayloadTooLarge => (StatusCode.ResourceExhausted, "The request body is larger than Serving:Limits:MaxRequestBodyBytes allows."),
        StatusCodes.Status414UriTooLong => (StatusCode.InvalidArgument, "The URL is longer than Serving:Limits:MaxUrlBytes allows."),
        StatusCodes.Status415UnsupportedMediaType => (StatusCode.InvalidArgument, "Request bodies must be JSON (Content-Type: application/json)."),
        >= 500 => (StatusCode.Internal, "The replica failed to answer."),
        _ => (StatusCode.InvalidArgument, "The request was refused."),
    };
}
