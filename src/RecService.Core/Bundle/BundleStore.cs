using System.Globalization;
using System.Runtime.InteropServices;

namespace RecService.Core.Bundle;

/// <summary>
/// The models directory: <c>models/&lt;version&gt;/</c> bundles and a <c>CURRENT</c> file naming the one to serve.
/// Publishing is crash-safe: files are written into a staging directory, flushed, the manifest written last,
/// the directory renamed into place, and only then is <c>CURRENT</c> replaced by an atomic rename.
/// A crash at any point leaves <c>CURRENT</c> naming a complete bundle.
/// </summary>
public sealed partial class BundleStore(string root)
{
    public const string CurrentFileName = "CURRENT";
    private const string StagingPrefix = ".staging-";

    public string Root { get; } = Path.GetFullPath(root);

    public string PathOf(string version) => Path.Combine(Root, version);

    /// <summary>The version <c>CURRENT</c> names, or null when nothing has been published.</summary>
    public string? CurrentVersion()
    {
        var path = Path.Combine(Root, CurrentFileName);
        if (!File.Exists(path)) return null;
        var version = File.ReadAllText(path).Trim();
        return IsVersionName(version) ? version : throw new InvalidDataException($"{path}: '{version}' is not a bundle version name.");
    }

    /// <summary>Published versions, oldest first (names sort by time).</summary>
    public IReadOnlyList<string> Versions() =>
        Directory.Exists(Root)
            ? Directory.EnumerateDirectories(Root).Select(Path.GetFileName).OfType<string>().Where(IsVersionName).Order(StringComparer.Ordinal).ToList()
            : [];

    public static bool IsVersionName(string name) =>
        name.Length is > 0 and <= 64 && !name.StartsWith('.') && name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.');

    /// <summary>A new version name: UTC time to the millisecond, sortable, unique within this store.</summary>
    public string NewVersion(DateTimeOffset now)
    {
        var version = now.UtcDateTime.ToString("yyyyMMdd'T'HHmmssfff'Z'", CultureInfo.InvariantCulture);
        var candidate = version;
        for (var i = 1; Directory.Exists(PathOf(candidate)); i++) candidate = $"{version}-{i}";
        return candidate;
    }

    /// <summary>
    /// Publishes a bundle: <paramref name="writeFiles"/> fills the staging directory; the manifest (with every
    /// file's size and checksum) is added, the bundle moved into place and <c>CURRENT</c> switched to it.
    /// </summary>
    public BundleManifest Publish(BundleManifest manifest, Action<string> writeFiles, DateTimeOffset? now = null)
    {
        Directory.CreateDirectory(Root);
        var created = now ?? DateTimeOffset.UtcNow;
        var version = NewVersion(created);
        var staging = Path.Combine(Root, $"{StagingPrefix}{version}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(staging);
        try
        {
            writeFiles(staging);
            var files = Directory.EnumerateFiles(staging).Select(Path.GetFileName).OfType<string>()
                .Where(n => n != BundleManifest.FileName).Order(StringComparer.Ordinal)
                .Select(n =>
                {
                    var path = Path.Combine(staging, n);
                    FlushFile(path);
                    return new BundleFileEntry(n, new FileInfo(path).Length, BundleManifest.Checksum(path));
                }).ToList();
            var complete = manifest with { ModelVersion = version, CreatedUtc = created, Files = files };
            WriteDurably(Path.Combine(staging, BundleManifest.FileName), complete.ToJson());
            FlushDirectory(staging);
            Directory.Move(staging, PathOf(version));
            FlushDirectory(Root);
            SetCurrent(version);
            return complete;
        }
        catch
        {
            try { if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Publishes <paramref name="content"/> (<see cref="BundleWriter.Write"/>) with <paramref name="manifest"/>'s run
    /// facts and metrics; the manifest's part list is made from the content.</summary>
    public BundleManifest Publish(BundleManifest manifest, BundleContent content, BundleForestOptions? forests = null, DateTimeOffset? now = null) =>
        Publish(manifest with { Parts = BundleWriter.Entries(content) }, dir => BundleWriter.Write(dir, content, forests), now);

    /// <summary>Points <c>CURRENT</c> at a published version by writing a temp file and renaming it over.</summary>
    public void SetCurrent(string version)
    {
        if (!IsVersionName(version) || !Directory.Exists(PathOf(version))) throw new ArgumentException($"No published version '{version}' in {Root}.");
        var temp = Path.Combine(Root, $"{CurrentFileName}.{Guid.NewGuid():N}.tmp");
        WriteDurably(temp, version + "\n");
        File.Move(temp, Path.Combine(Root, CurrentFileName), overwrite: true);
        FlushDirectory(Root);
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> versions (never the current one) and stale staging directories.</summary>
    public IReadOnlyList<string> Prune(int keep)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keep, 1);
        var current = CurrentVersion();
        var versions = Versions();
        var removed = new List<string>();
        foreach (var old in versions.Take(Math.Max(0, versions.Count - keep)))
        {
            if (old == current) continue;
            try
            {
                Directory.Delete(PathOf(old), recursive: true);
                removed.Add(old);
            }
            catch (IOException) { /* a file still open elsewhere on some platforms: try again next time */ }
        }
        foreach (var staging in Directory.EnumerateDirectories(Root, StagingPrefix + "*"))
        {
            if (Directory.GetLastWriteTimeUtc(staging) < DateTime.UtcNow.AddHours(-1))
            {
                try { Directory.Delete(staging, recursive: true); } catch (IOException) { }
            }
        }
        return removed;
    }

    private static void WriteDurably(string path, string text)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
        stream.Flush(flushToDisk: true);
    }

    private static void FlushFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
    }

    /// <summary>fsync a directory so a rename inside it survives a crash (POSIX only; a no-op elsewhere).</summary>
    private static void FlushDirectory(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = Posix.open(path, 0 /* O_RDONLY */);
        if (fd < 0) return;
        try { Posix.fsync(fd); }
        finally { Posix.close(fd); }
    }

    private static partial class Posix
    {
        [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        public static partial int open(string path, int flags);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int fsync(int fd);

        [LibraryImport("libc", SetLastError = true)]
        public static partial int close(int fd);
    }
}
