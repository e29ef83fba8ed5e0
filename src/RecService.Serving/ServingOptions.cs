namespace RecService.Serving;

/// <summary>Replica settings, bound from the "Serving" configuration section (appsettings or Serving__X env vars).</summary>
public sealed class ServingOptions
{
    public const string Section = "Serving";

    /// <summary>The models directory holding version folders and CURRENT.</summary>
    public string ModelsDirectory { get; set; } = "models";
    /// <summary>REST, health and metrics (HTTP/1.1 and HTTP/2 over TLS-less prior knowledge is not negotiable, so gRPC has its own endpoint).</summary>
    public string HttpUrl { get; set; } = "http://127.0.0.1:8080";
    /// <summary>gRPC: HTTP/2 without TLS.</summary>
    public string GrpcUrl { get; set; } = "http://127.0.0.1:8081";
    /// <summary>How often CURRENT is polled for a new version.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Verify every file's checksum before a bundle is served (reads the files once; off only for huge bundles on trusted storage).</summary>
    public bool VerifyChecksums { get; set; } = true;
    /// <summary>StackExchange.Redis configuration string; empty means no Redis (polling only).</summary>
    public string? Redis { get; set; }
    /// <summary>Pub/sub channel the worker announces new versions on.</summary>
    public string ModelChannel { get; set; } = "recservice:models";
    /// <summary>Forest candidates scored per 10 results (0 = the index's default); larger is slower and more exact.</summary>
    public int SearchK { get; set; }
    /// <summary>OTLP endpoint for traces (e.g. http://otel-collector:4317); empty means traces are not exported.</summary>
    public string? OtlpEndpoint { get; set; }
}
