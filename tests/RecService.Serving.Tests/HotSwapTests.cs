using System.Net;
using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Models.Als;

namespace RecService.Serving.Tests;

public sealed class HotSwapTests
{
    [Fact]
    public async Task Without_a_model_the_replica_is_alive_but_not_ready_then_loads_the_first_bundle()
    {
        using var models = new TempDirectory();
        await using var replica = await Replica.StartAsync(models.Path);

        Assert.Equal(HttpStatusCode.OK, (await replica.Http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await replica.Http.GetAsync("/readyz")).StatusCode);
        var error = await Assert.ThrowsAsync<RpcException>(async () => await replica.Client.RecommendAsync(new RecommendRequest { UserId = "user-1" }));
        Assert.Equal(StatusCode.Unavailable, error.StatusCode);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await replica.Http.GetAsync("/v1/users/user-1/recommendations")).StatusCode);
        var health = new Grpc.Health.V1.Health.HealthClient(replica.Channel);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.NotServing, (await health.CheckAsync(new())).Status);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving,
            (await health.CheckAsync(new Grpc.Health.V1.HealthCheckRequest { Service = ReplicaHost.LivenessService })).Status);

        var manifest = new TestWorld(seed: 1, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models.Path));
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        Assert.Equal(HttpStatusCode.OK, (await replica.Http.GetAsync("/readyz")).StatusCode);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new())).Status);
    }

    [Fact]
    public async Task New_versions_swap_in_under_concurrent_load_without_a_failed_request()
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = new TestWorld(seed: 1).Publish(store, "v1");
        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMilliseconds(20));
        await replica.WaitForVersionAsync(v1.ModelVersion);

        var load = SwapLoad.Start(replica);
        await Task.Delay(300);
        var v2 = new TestWorld(seed: 2).Publish(store, "v2");
        await replica.WaitForVersionAsync(v2.ModelVersion);
        await Task.Delay(300);
        var v3 = new TestWorld(seed: 3).Publish(store, "v3");
        await replica.WaitForVersionAsync(v3.ModelVersion);
        await Task.Delay(300);
        await load.StopAsync();

        Assert.Empty(load.Failures);
        Assert.True(load.Requests > 100, $"only {load.Requests} requests ran");
        Assert.Contains(v1.ModelVersion, load.Versions);
        Assert.Contains(v3.ModelVersion, load.Versions);
        // The answers really come from the new model: its factors differ, so its recommendations do.
        var now = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(0), Count = 10 });
        Assert.Equal(v3.ModelVersion, now.ModelVersion);
        var v3World = new TestWorld(seed: 3);
        var exact = v3World.ExactRecommend(0, 10).Select(TestWorld.TrackId).ToHashSet();
        Assert.True(now.Items.Count(i => exact.Contains(i.Id)) >= 8);
    }

    public static IEnumerable<object[]> Corruptions() =>
    [
        ["flipped byte in a forest", (Action<string>)(dir => FlipByte(Path.Combine(dir, BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest")), 5000))],
        ["truncated id map", (Action<string>)(dir => Truncate(Path.Combine(dir, BundleFiles.Users)))],
        ["missing manifest", (Action<string>)(dir => File.Delete(Path.Combine(dir, BundleManifest.FileName)))],
        ["garbage manifest", (Action<string>)(dir => File.WriteAllText(Path.Combine(dir, BundleManifest.FileName), "{ not json"))],
    ];

    [Theory]
    [MemberData(nameof(Corruptions))]
    public async Task A_corrupt_bundle_is_refused_and_the_previous_one_keeps_serving(string what, Action<string> corrupt)
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = new TestWorld(seed: 1, users: 50, tracks: 300, clusters: 5).Publish(store);
        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMilliseconds(20));
        await replica.WaitForVersionAsync(v1.ModelVersion);

        // Build v2 elsewhere, damage it, then move it in and point CURRENT at it.
        using var elsewhere = new TempDirectory();
        var v2 = new TestWorld(seed: 2, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(elsewhere.Path));
        var v2Dir = Path.Combine(elsewhere.Path, v2.ModelVersion);
        corrupt(v2Dir);
        Directory.Move(v2Dir, store.PathOf(v2.ModelVersion));
        store.SetCurrent(v2.ModelVersion);

        string metrics = "";
        for (var i = 0; i < 100 && !metrics.Contains("recservice_model_refused_total"); i++)
        {
            await Task.Delay(50);
            metrics = await replica.Http.GetStringAsync("/metrics");
        }
        Assert.Contains("recservice_model_refused_total", metrics);
        var info = await replica.Client.GetModelInfoAsync(new GetModelInfoRequest());
        Assert.Equal(v1.ModelVersion, info.ModelVersion);
        var answer = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(1), Count = 5 });
        Assert.Equal(5, answer.Items.Count);
        Assert.Equal(HttpStatusCode.OK, (await replica.Http.GetAsync("/readyz")).StatusCode);
        _ = what;
    }

    private static void FlipByte(string path, long offset)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.Position = Math.Min(offset, f.Length - 1);
        var b = f.ReadByte();
        f.Position--;
        f.WriteByte((byte)(b ^ 0x5A));
    }

    private static void Truncate(string path)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.SetLength(f.Length / 2);
    }
}
