using System.Net;

namespace RecService.Hosting;

/// <summary>
/// The one rule for addresses given to the services and the CLI: a full URL with its scheme, never a bare
/// <c>host:port</c> (which .NET would read as a URL whose scheme is the host name). A mistaken address is refused with
/// an <see cref="ArgumentException"/> naming the setting, before anything starts.
/// </summary>
public static class ServiceAddress
{
    /// <summary>
    /// An address to listen on: <c>http://HOST:PORT</c>, HOST an IP address, <c>localhost</c>, or <c>*</c> / <c>+</c> /
    /// <c>0.0.0.0</c> for every interface (returned as 0.0.0.0). TLS is terminated in front of the services.
    /// </summary>
    public static Uri Listen(string? value, string setting)
    {
        var text = value?.Trim() ?? "";
        var uri = Uri.TryCreate(text.Replace("://*:", "://0.0.0.0:").Replace("://+:", "://0.0.0.0:"), UriKind.Absolute, out var parsed) ? parsed : null;
        if (uri is null || uri.Scheme != Uri.UriSchemeHttp || !text.Contains("://", StringComparison.Ordinal))
            Refuse(setting, text, "an address to listen on is http://HOST:PORT, e.g. http://127.0.0.1:8080 (only http: terminate TLS in front)");
        if (uri.Host is not "localhost" && !IPAddress.TryParse(uri.Host, out _))
            Refuse(setting, text, "the host must be an IP address, localhost, or * for every interface");
        if (uri.AbsolutePath is not "/" || uri.Query.Length > 0)
            Refuse(setting, text, "give only http://HOST:PORT, without a path");
        return uri;
    }

    /// <summary>A server to call: <c>http://HOST:PORT</c> or <c>https://HOST:PORT</c>.</summary>
    public static Uri Server(string? value, string setting)
    {
        var text = value?.Trim() ?? "";
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https") || !text.Contains("://", StringComparison.Ordinal))
            Refuse(setting, text, "a server address is http://HOST:PORT (or https://), e.g. http://127.0.0.1:8081");
        return uri;
    }

    [System.Diagnostics.CodeAnalysis.DoesNotReturn]
    private static void Refuse(string setting, string value, string rule) =>
        throw new ArgumentException($"{setting} '{LogEscaping.Escape(value)}' is not a valid address: {rule}.");
}
