using Microsoft.Extensions.DependencyInjection;
using System.Net;
using System.Net.Sockets;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Serving;
using RecService.Serving.Tests;

namespace RecService.Deploy.Tests;

/// <summary>
/// A real replica on loopback, configured through the same Serving settings the ConfigMap sets: the probes named in
/// the Kubernetes manifest answer as they should, and /metrics carries every series the dashboard and the alerts
/// read from a replica.
/// </summary>
public sealed class LiveReplicaTests : IAsyncLifetime
{
    private readonly string _models = Directory.CreateTempSubdirectory("recservice-deploy-").FullName;
    private WebApplication _app = null!;
    private GrpcChannel _channel = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        // The ConfigMap's Serving__* settings, with loopback ports and a temporary models directory.
        var settings = Manifests.Config.Data.Where(kv => kv.Key.StartsWith("Serving__", StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key.Replace("__", ":", StringComparison.Ordinal), kv => (string?)kv.Value);
        settings["Serving:ModelsDirectory"] = _models;
        settings["Serving:HttpUrl"] = "http://127.0.0.1:0"; // the OS picks the ports at bind time
        settings["Serving:GrpcUrl"] = "http://127.0.0.1:0";
        settings["Serving:Redis:Endpoint"] = null; // notices are optional; the replica polls CURRENT
        settings["Serving:PollInterval"] = "00:00:00.05";
        settings["Serilog:MinimumLevel:Default"] = "Warning";
        _app = ReplicaHost.Build([], settings);
        await _app.StartAsync();
        var endpoints = _app.Services.GetRequiredService<ReplicaEndpoints>();
        _channel = GrpcChannel.ForAddress($"http://127.0.0.1:{endpoints.GrpcPort}");
        _http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{endpoints.HttpPort}") };
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
        try { Directory.Delete(_models, recursive: true); } catch (IOException) { }
    }

    private async Task<HealthCheckResponse.Types.ServingStatus> ProbeAsync(string? service) =>
        (await new Health.HealthClient(_channel).CheckAsync(new HealthCheckRequest { Service = service ?? "" })).Status;

    private async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException(what);
            await Task.Delay(25);
        }
    }

    [Fact]
    public async Task The_manifests_grpc_probes_report_alive_at_once_and_ready_only_with_a_model()
    {
        var c = Manifests.Container(Manifests.Replica);
        var liveness = c.LivenessProbe.Grpc.Service;
        var readiness = c.ReadinessProbe.Grpc.Service;

        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await ProbeAsync(liveness));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.NotServing, await ProbeAsync(readiness));
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await _http.GetAsync("/readyz")).StatusCode);

        new TestWorld(seed: 1, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(_models));
        await WaitAsync(async () => await ProbeAsync(readiness) == HealthCheckResponse.Types.ServingStatus.Serving, "ready after a model is published");
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, await ProbeAsync(liveness));
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync("/readyz")).StatusCode);
    }

    [Fact]
    public async Task Metrics_carry_every_replica_series_the_dashboard_and_alerts_read()
    {
        var store = new BundleStore(_models);
        var v1 = new TestWorld(seed: 1, users: 50, tracks: 300, clusters: 5).Publish(store);
        var client = new Recommender.RecommenderClient(_channel);
        await WaitAsync(async () =>
        {
            try { return (await client.GetModelInfoAsync(new GetModelInfoRequest())).ModelVersion == v1.ModelVersion; }
            catch (Grpc.Core.RpcException) { return false; }
        }, "v1 served");

        // Traffic over both transports, with OK and error statuses.
        await client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(1), Count = 5 });
        var invalid = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await client.RecommendAsync(new RecommendRequest { UserId = "", Count = 5 }));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, invalid.StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await _http.GetAsync($"/v1/users/{TestWorld.UserId(2)}/recommendations")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await _http.GetAsync("/v1/tracks/no-such-track/similar")).StatusCode);

        // A damaged bundle is refused (the refusal counter is exported only once it has counted).
        using (var elsewhere = new TempDir())
        {
            var v2 = new TestWorld(seed: 2, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(elsewhere.Path));
            var dir = Path.Combine(elsewhere.Path, v2.ModelVersion);
            File.WriteAllText(Path.Combine(dir, BundleManifest.FileName), "{ not json");
            Directory.Move(dir, store.PathOf(v2.ModelVersion));
            store.SetCurrent(v2.ModelVersion);
        }

        var needed = Monitoring.MetricsUsed().Select(u => u.Name).Where(Monitoring.ReplicaSeries.Contains).ToHashSet();
        Assert.True(needed.Count >= 7, string.Join(", ", needed));
        string text = "";
        HashSet<string> exported = [];
        await WaitAsync(async () =>
        {
            text = await _http.GetStringAsync("/metrics");
            exported = text.Split('\n').Where(l => l.Length > 0 && l[0] != '#')
                .Select(l => l[..l.IndexOfAny(['{', ' '])]).ToHashSet();
            return needed.IsSubsetOf(exported);
        }, "missing from /metrics: " + string.Join(", ", needed.Except(exported)));

        // The labels the panels group and filter by.
        foreach (var label in new[] { "rpc_method=\"Recommend\"", "grpc_status=\"OK\"", "grpc_status=\"NotFound\"", "grpc_status=\"InvalidArgument\"", "transport=\"grpc\"", "transport=\"rest\"", $"model_version=\"{v1.ModelVersion}\"" })
        {
            Assert.Contains(label, text);
        }
    }

    private sealed class TempDir : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("recservice-deploy-").FullName;
        public void Dispose() { try { Directory.Delete(Path, recursive: true); } catch (IOException) { } }
    }
}
