using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Als;
using RecService.Serving.Models;
using RecService.Serving.Telemetry;

namespace RecService.Serving.Tests;

/// <summary>A logger that keeps what was logged, for "logged once" assertions.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    public List<(LogLevel Level, string Message, Exception? Exception)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries) Entries.Add((logLevel, formatter(state, exception), exception));
    }
}

/// <summary>A watcher on its own (no host), polled by the test.</summary>
internal sealed class WatchedModels : IDisposable
{
    public WatchedModels(string models)
    {
        Holder = new ModelHolder();
        Metrics = new ServingMetrics(Holder);
        Watcher = new BundleWatcher(Holder, Metrics, KnownFamilies.All, Options.Create(new ServingOptions { ModelsDirectory = models }), Logger);
    }

    public ModelHolder Holder { get; }
    public ServingMetrics Metrics { get; }
    public RecordingLogger<BundleWatcher> Logger { get; } = new();
    public BundleWatcher Watcher { get; }

    public void Dispose()
    {
        Watcher.Dispose();
        Metrics.Dispose();
        Holder.Dispose();
    }
}

/// <summary>Issue 18, defect 7: CURRENT and bundle faults on a replica (the watcher and a real Kestrel replica).</summary>
public sealed class BundleFaultTests
{
    private static TestWorld Small(ulong seed) => new(seed, users: 50, tracks: 300, clusters: 5);

    private static string CurrentPath(BundleStore store) => Path.Combine(store.Root, BundleStore.CurrentFileName);

    [Fact]
    public void A_bad_current_is_logged_once_per_change_without_a_stack_trace_and_a_later_valid_one_is_served()
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = Small(1).Publish(store).ModelVersion;
        using var watched = new WatchedModels(models.Path);
        Assert.Equal(v1, watched.Watcher.CheckNow());

        File.WriteAllText(CurrentPath(store), "not a version! \u001b[2J\n");
        for (var i = 0; i < 10; i++) Assert.Equal(v1, watched.Watcher.CheckNow());
        File.WriteAllText(CurrentPath(store), new string('x', 100_000));
        for (var i = 0; i < 10; i++) Assert.Equal(v1, watched.Watcher.CheckNow());

        var warnings = watched.Logger.Entries.Where(e => e.Level >= LogLevel.Warning).ToList();
        Assert.Equal(2, warnings.Count);
        Assert.All(warnings, w => Assert.Null(w.Exception));
        Assert.All(warnings, w => Assert.True(w.Message.Length < 500, w.Message));

        var v2 = Small(2).Publish(store).ModelVersion;
        Assert.Equal(v2, watched.Watcher.CheckNow());
    }

    [Fact]
    public async Task A_fifo_as_current_does_not_block_the_watcher_and_a_later_valid_current_is_served()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = Small(1).Publish(store).ModelVersion;
        using var watched = new WatchedModels(models.Path);
        Assert.Equal(v1, watched.Watcher.CheckNow());
        var current = CurrentPath(store);
        File.Delete(current);
        using (var mkfifo = Process.Start("mkfifo", current)) await mkfifo.WaitForExitAsync();

        var check = Task.Run(watched.Watcher.CheckNow);
        var finished = await Task.WhenAny(check, Task.Delay(TimeSpan.FromSeconds(3))) == check;
        if (!finished) _ = Task.Run(() => { using var writer = new FileStream(current, FileMode.Open, FileAccess.Write); }); // frees the stuck watcher
        Assert.True(finished, "the watcher blocked on a FIFO CURRENT");
        Assert.Equal(v1, await check);

        File.Delete(current);
        var v2 = Small(2).Publish(store).ModelVersion;
        Assert.Equal(v2, watched.Watcher.CheckNow());
    }

    [Fact]
    public void A_copy_under_another_directory_name_is_swapped_in_once_and_serves_under_its_manifest_version()
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = Small(1).Publish(store).ModelVersion;
        Small(2).Publish(store);
        var copy = store.PathOf("restored-backup");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.EnumerateFiles(store.PathOf(v1))) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        store.SetCurrent("restored-backup");

        using var watched = new WatchedModels(models.Path);
        Assert.Equal(v1, watched.Watcher.CheckNow());
        var served = watched.Holder.Current;
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(v1, watched.Watcher.CheckNow());
            Assert.Same(served, watched.Holder.Current);
        }
        Assert.Null(watched.Watcher.Degraded);
    }

    [Fact]
    public async Task At_start_up_a_broken_current_falls_back_to_the_newest_intact_version_until_a_good_one_is_published()
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        Small(1).Publish(store);
        var v2 = Small(2).Publish(store).ModelVersion;
        var v3 = Small(3).Publish(store).ModelVersion;
        Truncate(Path.Combine(store.PathOf(v3), BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest")));

        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMilliseconds(50));
        await replica.WaitForVersionAsync(v2, TimeSpan.FromSeconds(10));
        using (var ready = await replica.Http.GetAsync("/readyz"))
        {
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            // The status, then the reason of each check that is not healthy.
            var body = await ready.Content.ReadAsStringAsync();
            Assert.StartsWith("Degraded\nmodel-source: serving " + v2, body);
        }
        // Kubernetes probes readiness over gRPC health: a degraded replica is still SERVING there.
        var health = new Grpc.Health.V1.Health.HealthClient(replica.Channel);
        Assert.Equal(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving, (await health.CheckAsync(new())).Status);
        var answer = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(1), Count = 5 });
        Assert.Equal(5, answer.Items.Count);

        var v4 = Small(4).Publish(store).ModelVersion;
        await replica.WaitForVersionAsync(v4);
        Assert.Equal("Healthy", await replica.Http.GetStringAsync("/readyz"));
    }

    public static IEnumerable<object[]> InPlaceDamage() =>
    [
        ["truncated forest", (Action<string>)(dir => Truncate(Path.Combine(dir, BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest"))))],
        ["truncated item factors", (Action<string>)(dir => Truncate(Path.Combine(dir, BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.ItemFactors, "mat"))))],
        ["item factors overwritten with huge values", (Action<string>)(dir => Overwrite(Path.Combine(dir, BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.ItemFactors, "mat")), 3e36f))],
        ["user factors overwritten with NaN", (Action<string>)(dir => Overwrite(Path.Combine(dir, BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.UserFactors, "mat")), float.NaN))],
    ];

    [Theory]
    [MemberData(nameof(InPlaceDamage))]
    public async Task A_served_file_changed_in_place_is_swapped_away_from_before_requests_read_it(string what, Action<string> damage)
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = Small(1).Publish(store).ModelVersion;
        var v2 = Small(2).Publish(store).ModelVersion;
        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMilliseconds(50));
        await replica.WaitForVersionAsync(v2);

        damage(store.PathOf(v2));
        // No request until the replica moved: what the defence promises is a swap at the next poll.
        await replica.WaitForVersionAsync(v1, TimeSpan.FromSeconds(10));
        for (var u = 0; u < 20; u++)
        {
            var r = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(u), Count = 10 });
            Assert.Equal(v1, r.ModelVersion);
            Assert.All(r.Items, i => Assert.True(float.IsFinite(i.Score) && Math.Abs(i.Score) < 1e6, $"{what}: score {i.Score}"));
            using var similar = await replica.Http.GetAsync($"/v1/tracks/{TestWorld.TrackId(u)}/similar?count=5");
            Assert.Equal(HttpStatusCode.OK, similar.StatusCode);
        }
    }

    [Fact]
    public async Task A_served_file_truncated_in_place_is_noticed_at_once_not_at_the_next_poll()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = Small(1).Publish(store).ModelVersion;
        var v2 = Small(2).Publish(store).ModelVersion;
        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMinutes(5));
        await replica.WaitForVersionAsync(v2);
        Truncate(Path.Combine(store.PathOf(v2), BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest")));
        await replica.WaitForVersionAsync(v1, TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task With_no_intact_bundle_left_a_damaged_one_stops_being_served_instead_of_crashing_the_replica()
    {
        using var models = new TempDirectory();
        var store = new BundleStore(models.Path);
        var v1 = Small(1).Publish(store).ModelVersion;
        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMilliseconds(50));
        await replica.WaitForVersionAsync(v1);
        Truncate(Path.Combine(store.PathOf(v1), BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest")));

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        HttpStatusCode status;
        do
        {
            await Task.Delay(50);
            using var ready = await replica.Http.GetAsync("/readyz");
            status = ready.StatusCode;
        } while (status == HttpStatusCode.OK && DateTime.UtcNow < deadline);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, status);
        Assert.Equal(HttpStatusCode.OK, (await replica.Http.GetAsync("/healthz")).StatusCode);

        var v2 = Small(2).Publish(store).ModelVersion;
        await replica.WaitForVersionAsync(v2);
    }

    internal static void Truncate(string path)
    {
        MakeWritable(path);
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        f.SetLength(f.Length / 2);
    }

    /// <summary>Rewrites every value after the matrix header in place, keeping the size (as a careless copy over it would).</summary>
    private static void Overwrite(string path, float value)
    {
        MakeWritable(path);
        using var f = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        var bytes = new byte[f.Length - 512];
        for (var i = 0; i + 4 <= bytes.Length; i += 4) BitConverter.TryWriteBytes(bytes.AsSpan(i), value);
        f.Position = 512;
        f.Write(bytes);
    }

    internal static void MakeWritable(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserWrite);
    }
}
