using System.Diagnostics;
using RecService.Core.Bundle;
using RecService.Models;
using RecService.Serving.Tests;
using Xunit.Abstractions;

namespace RecService.EndToEnd.Tests;

/// <summary>
/// Fault injection (issue 18, 9): the real `rec publish` (a separate process) is killed with SIGKILL at random points.
/// After every kill CURRENT names a complete bundle that verifies; the leftovers of killed publishers are removed by the
/// next publish, not an hour later.
/// </summary>
public sealed class PublishFaultInjectionTests(ITestOutputHelper output)
{
    private static Process StartRec(params string[] args)
    {
        var dotnet = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet";
        var info = new ProcessStartInfo(dotnet) { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "rec.dll"));
        foreach (var a in args) info.ArgumentList.Add(a);
        return Process.Start(info)!;
    }

    private static List<string> Leftovers(string models) =>
        [.. Directory.EnumerateDirectories(models, ".staging-*"), .. Directory.EnumerateFiles(models, BundleStore.CurrentFileName + ".*.tmp")];

    [Fact]
    public async Task A_publish_killed_at_random_points_leaves_current_on_a_verified_bundle_and_the_next_publish_cleans_up()
    {
        if (OperatingSystem.IsWindows()) return;
        using var models = new TempDirectory();
        using var sources = new TempDirectory();
        var sourceStore = new BundleStore(sources.Path);
        var source = sourceStore.PathOf(new TestWorld(seed: 1, users: 1000, tracks: 6000, clusters: 30).Publish(sourceStore).ModelVersion);
        var store = new BundleStore(models.Path);
        string[] publish = ["publish", "--from", source, "--models", models.Path, "--keep", "3"];

        // One complete run first: how long a publish takes here sets the range of the kill delays.
        var clock = Stopwatch.StartNew();
        using (var full = StartRec(publish))
        {
            await full.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(full.ExitCode == 0, await full.StandardError.ReadToEndAsync());
        }
        var runtime = clock.Elapsed;
        // Most of a run is the runtime starting; a run that fails at once measures that part, and kills land after it.
        clock.Restart();
        using (var quick = StartRec("publish", "--from", Path.Combine(sources.Path, "missing"), "--models", models.Path))
        {
            await quick.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.Equal(2, quick.ExitCode);
        }
        var startup = clock.Elapsed * 0.9;
        using (var verified = ModelBundle.Open(store.PathOf(store.CurrentVersion()!), verifyChecksums: true, KnownFamilies.All)) { }

        var rng = new Random(18);
        int kills = 0, completed = 0, killedWithLeftovers = 0;
        var suite = Stopwatch.StartNew();
        for (var run = 0; kills < 20 && run < 60 && suite.Elapsed < TimeSpan.FromSeconds(40); run++)
        {
            var thisRun = Stopwatch.StartNew();
            using var rec = StartRec(publish);
            if (run % 2 == 0)
                await Task.Delay(startup + TimeSpan.FromMilliseconds(rng.NextDouble() * Math.Max(1, 0.8 * (runtime - startup).TotalMilliseconds)));
            else
            {
                // Every other run is killed inside the part that writes: once a new staging directory appears.
                var before = Leftovers(models.Path).ToHashSet();
                var wait = Stopwatch.StartNew();
                while (!rec.HasExited && wait.Elapsed < runtime * 2 && Leftovers(models.Path).All(before.Contains)) await Task.Delay(1);
                await Task.Delay(TimeSpan.FromMilliseconds(rng.NextDouble() * 0.15 * runtime.TotalMilliseconds));
            }
            var killed = false;
            try
            {
                if (!rec.HasExited)
                {
                    rec.Kill(); // SIGKILL: no finally, no cleanup
                    killed = true;
                }
            }
            catch (InvalidOperationException) { } // it exited in between
            await rec.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (killed && rec.ExitCode != 0) kills++;
            else
            {
                completed++;
                // The first runs set the delays and may have been slow (a cold cache, other tests on the cores): a run that
                // finished before its kill narrows them to what publishing takes now.
                runtime = thisRun.Elapsed < runtime ? thisRun.Elapsed : runtime;
                if (startup > runtime * 0.7) startup = runtime * 0.7;
            }

            var current = store.CurrentVersion();
            Assert.NotNull(current);
            try
            {
                using var bundle = ModelBundle.Open(store.PathOf(current), verifyChecksums: true, KnownFamilies.All);
                Assert.Equal(current, bundle.Version);
            }
            catch (Exception ex)
            {
                Assert.Fail($"run {run} ({(killed ? "killed" : "finished")}): CURRENT names {current}, which does not verify: {ex.Message}");
            }
            if (Leftovers(models.Path).Count > 0) killedWithLeftovers++;
        }
        Assert.True(kills >= 20, $"only {kills} kills landed in {suite.Elapsed.TotalSeconds:F0} s ({completed} runs finished first; a publish takes {runtime.TotalMilliseconds:F0} ms)");
        Assert.True(killedWithLeftovers > 0, "no kill landed inside a publish: the test does not test what it says");

        using (var next = StartRec(publish))
        {
            await next.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.True(next.ExitCode == 0, await next.StandardError.ReadToEndAsync());
        }
        Assert.Empty(Leftovers(models.Path));
        using (var bundle = ModelBundle.Open(store.PathOf(store.CurrentVersion()!), verifyChecksums: true, KnownFamilies.All)) { }
        output.WriteLine($"publish takes {runtime.TotalMilliseconds:F0} ms (start-up {startup.TotalMilliseconds / 0.9:F0} ms); {kills} kills ({killedWithLeftovers} left a staging directory or temp file), " +
                         $"{completed} runs finished first; CURRENT verified after each; no leftovers after the next publish");
    }

    [Fact]
    public async Task Rec_publish_refuses_a_damaged_source_with_one_line_naming_the_file()
    {
        if (OperatingSystem.IsWindows()) return;
        using var models = new TempDirectory();
        using var sources = new TempDirectory();
        var sourceStore = new BundleStore(sources.Path);
        var source = sourceStore.PathOf(new TestWorld(seed: 1, users: 50, tracks: 300, clusters: 5).Publish(sourceStore).ModelVersion);
        var users = Path.Combine(source, BundleFiles.Users);
        File.SetUnixFileMode(users, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        await using (var f = new FileStream(users, FileMode.Open, FileAccess.ReadWrite)) { f.Position = 100; f.WriteByte(0x5A); }

        using var rec = StartRec("publish", "--from", source, "--models", models.Path);
        await rec.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        var error = await rec.StandardError.ReadToEndAsync();
        Assert.Equal(2, rec.ExitCode);
        Assert.Contains("users.ids", error);
        Assert.Single(error.Trim().Split('\n'));
        Assert.Null(new BundleStore(models.Path).CurrentVersion());
    }
}
