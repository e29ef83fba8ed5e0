using Google.Protobuf;
using Grpc.Core;

namespace RecService.Serving.Rpc;

/// <summary>
/// Binds a generated service with request parsing that answers malformed protobuf with INVALID_ARGUMENT and a short
/// message. The generated parser throws <see cref="InvalidProtocolBufferException"/>, which gRPC would report as
/// UNKNOWN ("Exception was thrown by handler") and log with a stack trace at Error; an <see cref="RpcException"/> is
/// logged by gRPC once, at Information, without one. A service opts in with
/// <c>[BindServiceMethod(typeof(TheService), nameof(BindService))]</c> and a <c>BindService</c> that wraps the binder.
/// </summary>
internal sealed class ParseFailureBinder(ServiceBinderBase inner) : ServiceBinderBase
{
    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        where TRequest : class where TResponse : class =>
        inner.AddMethod(Checked(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        where TRequest : class where TResponse : class =>
        inner.AddMethod(Checked(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        where TRequest : class where TResponse : class =>
        inner.AddMethod(Checked(method), handler);

    public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        where TRequest : class where TResponse : class =>
        inner.AddMethod(Checked(method), handler);

    private static Method<TRequest, TResponse> Checked<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class where TResponse : class
    {
        var parse = method.RequestMarshaller.ContextualDeserializer;
        var marshaller = new Marshaller<TRequest>(method.RequestMarshaller.ContextualSerializer, context =>
        {
            try
            {
                return parse(context);
            }
            catch (InvalidProtocolBufferException ex)
            {
                // The parser's first sentence says what broke; the rest is advice for the message's author.
                var reason = ex.Message.AsSpan();
                if (reason.IndexOf(". ") is var end and > 0) reason = reason[..(end + 1)];
                throw new RpcException(new Status(StatusCode.InvalidArgument, $"The {method.Name} request is not valid protobuf: {reason}"));
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }
}
