using System.Diagnostics;
using RecService.Core.Bundle;

namespace RecService.Core.Tests;

/// <summary>CURRENT read as an attacker or a careless operator would leave it, and publish leftovers (issue 18, 7 and 9).</summary>
public sealed class BundleStoreFaultTests : IDisposable
{
    private readonly string _dir = TestData.TempPath("store-faults");

    public BundleStoreFaultTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private BundleStore NewStore(out string version)
    {
        var store = new BundleStore(Path.Combine(_dir, "models"));
        version = store.Publish(new BundleManifest(), dir => File.WriteAllText(Path.Combine(dir, "payload.bin"), "payload")).ModelVersion;
        return store;
    }

    private static string CurrentPath(BundleStore store) => Path.Combine(store.Root, BundleStore.CurrentFileName);

    [Fact]
    public void A_huge_current_is_refused_unread_with_a_short_message()
    {
        var store = NewStore(out _);
        File.WriteAllText(CurrentPath(store), new string('a', 8 << 20));
        var error = Assert.Throws<InvalidDataException>(() => store.CurrentVersion());
        Assert.True(error.Message.Length < 400, $"a {error.Message.Length}-character message");
        Assert.Contains(BundleStore.CurrentFileName, error.Message);
    }

    [Fact]
    public void Junk_in_current_is_reported_escaped_and_short()
    {
        var store = NewStore(out _);
        File.WriteAllText(CurrentPath(store), "v1\nforged log line\u001b[31m" + new string('x', 150));
        var error = Assert.Throws<InvalidDataException>(() => store.CurrentVersion());
        Assert.DoesNotContain('\n', error.Message);
        Assert.DoesNotContain('\u001b', error.Message);
        Assert.True(error.Message.Length < 400, error.Message);
    }

    [Fact]
    public async Task A_fifo_as_current_is_refused_without_blocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        var store = NewStore(out _);
        var current = CurrentPath(store);
        File.Delete(current);
        using (var mkfifo = Process.Start("mkfifo", current)) await mkfifo.WaitForExitAsync();
        var read = Task.Run(store.CurrentVersion);
        var finished = await Task.WhenAny(read, Task.Delay(TimeSpan.FromSeconds(3))) == read;
        // Unblocks a reader stuck in open() (the defect), so the test run does not hang on it.
        if (!finished) _ = Task.Run(() => { using var writer = new FileStream(current, FileMode.Open, FileAccess.Write); });
        Assert.True(finished, "reading a FIFO CURRENT blocked");
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => read);
        Assert.Contains("not a regular file", error.Message);
    }

    [Fact]
    public void A_symlinked_current_is_followed_only_inside_the_models_directory()
    {
        if (OperatingSystem.IsWindows()) return;
        var store = NewStore(out var version);
        var current = CurrentPath(store);
        var outside = Path.Combine(_dir, "elsewhere");
        File.WriteAllText(outside, version);
        File.Delete(current);
        File.CreateSymbolicLink(current, outside);
        Assert.Contains("outside the models directory", Assert.Throws<InvalidDataException>(() => store.CurrentVersion()).Message);

        // A link inside the directory (the way a Kubernetes ConfigMap mounts files: ..data/CURRENT) is followed.
        Directory.CreateDirectory(Path.Combine(store.Root, "..data"));
        File.WriteAllText(Path.Combine(store.Root, "..data", "CURRENT"), version + "\n");
        File.Delete(current);
        File.CreateSymbolicLink(current, Path.Combine("..data", "CURRENT"));
        Assert.Equal(version, store.CurrentVersion());
    }

    [Fact]
    public void A_publish_that_fails_at_the_current_step_leaves_no_temp_file()
    {
        var store = NewStore(out var version);
        // CURRENT replaced by a non-empty directory: the rename over it fails, as a full or read-only disk would.
        var current = CurrentPath(store);
        File.Delete(current);
        Directory.CreateDirectory(Path.Combine(current, "in-the-way"));
        Assert.ThrowsAny<IOException>(() => store.SetCurrent(version));
        Assert.Empty(Directory.EnumerateFiles(store.Root, "CURRENT.*.tmp"));
    }

    [Fact]
    public void Published_files_are_read_only()
    {
        if (OperatingSystem.IsWindows()) return;
        var store = NewStore(out var version);
        foreach (var file in Directory.EnumerateFiles(store.PathOf(version)))
        {
            var mode = File.GetUnixFileMode(file);
            Assert.True((mode & (UnixFileMode.UserWrite | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite)) == 0, $"{file} is {mode}");
        }
    }

    [Fact]
    public void The_next_publish_removes_a_dead_publishers_leftovers_and_keeps_live_or_foreign_ones()
    {
        if (!OperatingSystem.IsLinux()) return;
        var store = NewStore(out _);
        using var exited = Process.Start("true")!;
        exited.WaitForExit();
        var own = PublisherTag.Own;
        var ns = own[(own.LastIndexOf('n') + 1)..];
        string Staging(string tag) => Path.Combine(store.Root, $".staging-20260101T000000000Z-{Guid.NewGuid():N}-{tag}");
        var dead = Staging($"p{exited.Id}s12345n{ns}");
        var live = Staging(own);
        var foreign = Staging($"p{exited.Id}s12345n{(ns == "00000000" ? "11111111" : "00000000")}");
        var foreignOld = Staging($"p{exited.Id}s12345n{(ns == "00000000" ? "11111111" : "00000000")}");
        var deadTemp = Path.Combine(store.Root, $"CURRENT.{Guid.NewGuid():N}-p{exited.Id}s12345n{ns}.tmp");
        var legacyTempOld = Path.Combine(store.Root, $"CURRENT.{Guid.NewGuid():N}.tmp");
        foreach (var d in new[] { dead, live, foreign, foreignOld }) Directory.CreateDirectory(d);
        File.WriteAllText(Path.Combine(dead, "users.ids"), "half written");
        File.WriteAllText(deadTemp, "x");
        File.WriteAllText(legacyTempOld, "x");
        Directory.SetLastWriteTimeUtc(foreignOld, DateTime.UtcNow.AddHours(-2));
        File.SetLastWriteTimeUtc(legacyTempOld, DateTime.UtcNow.AddHours(-2));

        store.Publish(new BundleManifest(), dir => File.WriteAllText(Path.Combine(dir, "payload.bin"), "next"));

        Assert.False(Directory.Exists(dead), "a dead publisher's staging survived the next publish");
        Assert.False(File.Exists(deadTemp), "a dead publisher's CURRENT temp file survived the next publish");
        Assert.False(Directory.Exists(foreignOld));
        Assert.False(File.Exists(legacyTempOld));
        Assert.True(Directory.Exists(live), "a live publisher's staging was removed");
        Assert.True(Directory.Exists(foreign), "a fresh staging from another host or namespace was removed");
    }
}
