using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Sockets;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using RecService.Api.V1;
using RecService.Core.Bundle;

namespace RecService.Serving.Tests;

/// <summary>A real replica on loopback: Kestrel with its REST port (HTTP/1.1) and gRPC port (HTTP/2 cleartext).</summary>
public sealed class Replica : IAsyncDisposable
{
    private readonly WebApplication _app;

    private Replica(WebApplication app, string modelsDirectory, int httpPort, int grpcPort)
    {
        _app = app;
        ModelsDirectory = modelsDirectory;
        Http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        Channel = GrpcChannel.ForAddress($"http://127.0.0.1:{grpcPort}");
        Client = new Recommender.RecommenderClient(Channel);
        Radio = new Api.V1.Radio.RadioClient(Channel);
        HttpPort = httpPort;
        GrpcPort = grpcPort;
    }

    public string ModelsDirectory { get; }
    public HttpClient Http { get; }
    public GrpcChannel Channel { get; }
    public Recommender.RecommenderClient Client { get; }
    public Api.V1.Radio.RadioClient Radio { get; }
    public int HttpPort { get; }
    public int GrpcPort { get; }
    public IServiceProvider Services => _app.Services;

    public static async Task<Replica> StartAsync(string modelsDirectory, TimeSpan? poll = null, string? redis = null,
        IReadOnlyDictionary<string, string?>? settings = null, Action<IServiceCollection>? extend = null)
    {
        // Port 0: the OS picks free ports at bind time (picking them beforehand races with parallel test runs).
        var overrides = new Dictionary<string, string?>
        {
            ["Serving:ModelsDirectory"] = modelsDirectory,
            ["Serving:HttpUrl"] = "http://127.0.0.1:0",
            ["Serving:GrpcUrl"] = "http://127.0.0.1:0",
            ["Serving:PollInterval"] = (poll ?? TimeSpan.FromMilliseconds(100)).ToString(),
            ["Serving:Redis:Endpoint"] = redis,
            // Generous for tests: two cores shared with parallel test classes can stall a loopback call past 250 ms.
            ["Serving:Redis:Timeout"] = "00:00:02",
            ["Serilog:MinimumLevel:Default"] = "Warning",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) overrides[key] = value;
        var app = ReplicaHost.Build([], overrides, extend);
        await app.StartAsync();
        var endpoints = app.Services.GetRequiredService<ReplicaEndpoints>();
        return new Replica(app, modelsDirectory, endpoints.HttpPort, endpoints.GrpcPort);
    }

    /// <summary>Waits until the replica serves <paramref name="version"/> (polling GetModelInfo).</summary>
    public async Task WaitForVersionAsync(string version, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if ((await Client.GetModelInfoAsync(new GetModelInfoRequest())).ModelVersion == version) return;
            }
            catch (Grpc.Core.RpcException) { }
            await Task.Delay(25);
        }
        throw new TimeoutException($"Replica did not serve {version} in time.");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public async ValueTask DisposeAsync()
    {
        Channel.Dispose();
        Http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

/// <summary>One published bundle and a replica serving it, shared by the read-only API tests.</summary>
public sealed class ServedWorld : IAsyncLifetime
{
    public TestWorld World { get; } = new(seed: 11);
    public TempDirectory Models { get; } = new();
    public Replica Replica { get; private set; } = null!;
    public BundleManifest Manifest { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Manifest = World.Publish(new BundleStore(Models.Path));
        Replica = await Replica.StartAsync(Models.Path);
        await Replica.WaitForVersionAsync(Manifest.ModelVersion);
    }

    public async Task DisposeAsync()
    {
        await Replica.DisposeAsync();
        Models.Dispose();
    }
}

public sealed class TempDirectory : IDisposable
{
    public TempDirectory() => Directory.CreateDirectory(Path);
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "recservice-tests", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
