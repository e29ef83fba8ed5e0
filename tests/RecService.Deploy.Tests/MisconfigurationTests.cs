using System.Net;
using System.Net.Sockets;
using RecService.Core.Bundle;
using RecService.Serving.Tests;

namespace RecService.Deploy.Tests;

/// <summary>
/// A careless operator's mistakes, made to the real processes: each is said clearly (a message, a non-zero exit,
/// an unhealthy or not-ready health check) within seconds, never a hang, a stack trace or a healthy look.
/// </summary>
public sealed class MisconfigurationTests
{
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(30); // process start on a busy machine included

    private static void AssertNoStackTrace(RecProcess rec) =>
        Assert.DoesNotContain("   at ", rec.Stdout + rec.Stderr, StringComparison.Ordinal);

    public static TheoryData<string[]> AddressesWithoutScheme() => new(
        ["serve", "--models", "/nonexistent", "--http", "127.0.0.1:18480"],
        ["serve", "--models", "/nonexistent", "--grpc", "localhost:18481"],
        ["query", "--server", "localhost:8081", "info"],
        ["query", "--server", "127.0.0.1:8081", "info"],
        ["worker", "--http", "127.0.0.1:18482"]);

    [Theory]
    [MemberData(nameof(AddressesWithoutScheme))]
    public async Task An_address_without_http_is_refused_with_a_message_and_exit_code_2(string[] args)
    {
        using var rec = RecProcess.Start(args);
        var code = await rec.ExitCodeAsync(Quick);
        Assert.True(code is not null, $"rec {string.Join(' ', args)} still running after {Quick.TotalSeconds} s");
        Assert.Equal(2, code);
        var address = args[Array.FindIndex(args, a => a is "--http" or "--grpc" or "--server") + 1];
        Assert.Contains($"'{address}' is not a valid address", rec.Stderr);
        Assert.Contains("http://", rec.Stderr);
        AssertNoStackTrace(rec);
    }

    [Fact]
    public async Task Precompute_with_an_unreachable_redis_fails_within_seconds_with_a_message_and_exit_code_1()
    {
        using var models = new TempDirectory();
        new TestWorld(seed: 3, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models.Path));
        // Accepts connections and never answers: a firewalled or stopped Redis, the case that used to hang.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        var port = ((IPEndPoint)silent.LocalEndpoint).Port;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var rec = RecProcess.Start("precompute", "--models", models.Path, "--redis", $"127.0.0.1:{port}");
        var code = await rec.ExitCodeAsync(TimeSpan.FromSeconds(20));
        Assert.True(code is not null, $"rec precompute still running after 20 s against a silent Redis\n{rec.Stdout}\n{rec.Stderr}");
        Assert.Equal(1, code);
        Assert.Contains($"cannot reach Redis at 127.0.0.1:{port}", rec.Stderr);
        AssertNoStackTrace(rec);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20));
    }

    [Fact]
    public async Task A_worker_whose_snapshots_directory_does_not_exist_logs_an_error_and_is_unhealthy()
    {
        using var data = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(data.Path, "catalog"));
        var snapshots = Path.Combine(data.Path, "snapshots");
        var port = RecProcess.FreePort();
        using var rec = RecProcess.Start("worker", "--snapshots", snapshots, "--catalog", Path.Combine(data.Path, "catalog"),
            "--models", Path.Combine(data.Path, "models"), "--http", $"http://127.0.0.1:{port}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}") };
        var body = await rec.WaitForStatusAsync(http, "/healthz", HttpStatusCode.ServiceUnavailable, Quick);
        Assert.Contains($"Snapshots directory {snapshots} does not exist", body);
        var error = await rec.WaitForLineAsync(l => l.Contains(" ERR] ") && l.Contains(snapshots), TimeSpan.FromSeconds(10));
        Assert.True(error is not null, $"no error line naming {snapshots}:\n{rec.Stdout}");

        // The directory appears (data arrives): healthy again, without a restart.
        Directory.CreateDirectory(snapshots);
        await rec.WaitForStatusAsync(http, "/healthz", HttpStatusCode.OK, Quick);
    }

    [Fact]
    public async Task A_replica_whose_models_directory_does_not_exist_warns_and_is_not_ready_until_a_bundle_appears()
    {
        using var root = new TempDirectory();
        var models = Path.Combine(root.Path, "models");
        var (httpPort, grpcPort) = (RecProcess.FreePort(), RecProcess.FreePort());
        using var rec = RecProcess.Start("serve", "--models", models, "--http", $"http://127.0.0.1:{httpPort}", "--grpc", $"http://127.0.0.1:{grpcPort}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        var warning = await rec.WaitForLineAsync(l => l.Contains(" WRN] ") && l.Contains(models), Quick);
        Assert.True(warning is not null, $"no warning naming {models}:\n{rec.Stdout}");
        await rec.WaitForStatusAsync(http, "/healthz", HttpStatusCode.OK, Quick); // alive: it is not restarted for it
        var body = await rec.WaitForStatusAsync(http, "/readyz", HttpStatusCode.ServiceUnavailable, Quick);
        Assert.Contains($"models directory {models} does not exist", body);

        new TestWorld(seed: 4, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models));
        await rec.WaitForStatusAsync(http, "/readyz", HttpStatusCode.OK, Quick);
    }
}
