using RecService.Core.Files;
using RecService.Core.Text;
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

    /// <summary>The most <c>CURRENT</c> may hold: one version name and a line end. Anything longer is refused unread.</summary>
    public const int MaxCurrentBytes = 256;

    /// <summary>
    /// The version <c>CURRENT</c> names, or null when nothing has been published. Reads at most
    /// <see cref="MaxCurrentBytes"/>, opens only a regular file (a FIFO or device there is refused without being opened)
    /// and follows a symbolic link only to a file inside the models directory. A bad pointer throws
    /// <see cref="InvalidDataException"/> with a one-line message that never echoes more than a short, escaped prefix.
    /// </summary>
    public string? CurrentVersion()
    {
        var path = Path.Combine(Root, CurrentFileName);
        var entry = FileIdentity.OfPath(path);
        if (entry.Kind == FileKind.Missing) return null;
        var target = path;
        if (entry.Kind == FileKind.SymbolicLink)
        {
            target = File.ResolveLinkTarget(path, returnFinalTarget: true)?.FullName ?? path;
            if (!IsInside(target))
                throw new InvalidDataException($"{path}: a symbolic link to {ControlCharacters.Quote(target)}, outside the models directory; a linked CURRENT must point inside {Root}.");
            entry = FileIdentity.OfPath(target);
            if (entry.Kind == FileKind.Missing) throw new InvalidDataException($"{path}: a symbolic link to {ControlCharacters.Quote(target)}, which does not exist.");
        }
        if (entry.Kind != FileKind.Regular)
            throw new InvalidDataException($"{path}: {FileKinds.Describe(entry.Kind)}, not a regular file; CURRENT must be a file naming a version.");
        if (entry.Size > MaxCurrentBytes)
            throw new InvalidDataException($"{path}: {entry.Size} bytes; CURRENT holds one version name (at most {MaxCurrentBytes} bytes), so it was not read.");
        var version = ReadSmallFile(target, entry).Trim();
        return IsVersionName(version) ? version : throw new InvalidDataException($"{path}: '{ControlCharacters.Quote(version)}' is not a bundle version name.");
    }

    private bool IsInside(string path) =>
        Path.GetFullPath(path).StartsWith(Root.TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar, StringComparison.Ordinal);

    /// <summary>Reads a file already checked to be small and regular. On Linux it is opened non-blocking and checked again
    /// through the open descriptor, so a FIFO (or another file) swapped in since the check can neither block nor be read.</summary>
    private static string ReadSmallFile(string path, FileIdentity checkedEntry)
    {
        Span<byte> buffer = stackalloc byte[MaxCurrentBytes + 1];
        var length = 0;
        if (OperatingSystem.IsLinux())
        {
            var fd = Posix.open(path, Posix.ReadOnly | Posix.NonBlockingCloseOnExec);
            if (fd < 0) throw new IOException($"{path}: cannot open (errno {Marshal.GetLastPInvokeError()}).");
            using var handle = new Microsoft.Win32.SafeHandles.SafeFileHandle((IntPtr)fd, ownsHandle: true);
            var opened = FileIdentity.Of(handle, path);
            if (opened.Kind != FileKind.Regular || opened.Inode != checkedEntry.Inode || opened.Device != checkedEntry.Device)
                throw new IOException($"{path}: replaced while being read.");
            for (int n; length < buffer.Length && (n = RandomAccess.Read(handle, buffer[length..], length)) > 0;) length += n;
        }
        else
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1);
            for (int n; length < buffer.Length && (n = stream.Read(buffer[length..])) > 0;) length += n;
        }
        if (length > MaxCurrentBytes) throw new InvalidDataException($"{path}: longer than {MaxCurrentBytes} bytes; CURRENT holds one version name.");
        return System.Text.Encoding.UTF8.GetString(buffer[..length]);
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
    /// file's size and checksum) is added, every file made read-only, the bundle moved into place and <c>CURRENT</c>
    /// switched to it. Leftovers of publishers that died (<see cref="RemoveLeftovers"/>) are removed first.
    /// </summary>
    public BundleManifest Publish(BundleManifest manifest, Action<string> writeFiles, DateTimeOffset? now = null)
    {
        Directory.CreateDirectory(Root);
        RemoveLeftovers();
        var created = now ?? DateTimeOffset.UtcNow;
        var version = NewVersion(created);
        var staging = Path.Combine(Root, $"{StagingPrefix}{version}-{Guid.NewGuid():N}-{PublisherTag.Own}");
        Directory.CreateDirectory(staging);
        try
        {
            writeFiles(staging);
            var files = Directory.EnumerateFiles(staging).Select(Path.GetFileName).OfType<string>()
                .Where(n => n != BundleManifest.FileName).Order(StringComparer.Ordinal)
                .Select(n =>
                {
                    var path = Path.Combine(staging, n);
                    MakeReadOnly(path);
                    FlushFile(path);
                    return new BundleFileEntry(n, new FileInfo(path).Length, BundleManifest.Checksum(path));
                }).ToList();
            var complete = manifest with { ModelVersion = version, CreatedUtc = created, Files = files };
            var manifestPath = Path.Combine(staging, BundleManifest.FileName);
            WriteDurably(manifestPath, complete.ToJson());
            MakeReadOnly(manifestPath);
            FlushDirectory(staging);
            Directory.Move(staging, PathOf(version));
            FlushDirectory(Root);
            SetCurrent(version);
            return complete;
        }
        catch
        {
            try { if (Directory.Exists(staging)) Directory.Delete(staging, recursive: true); } catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Publishes <paramref name="content"/> (<see cref="BundleWriter.Write"/>) with <paramref name="manifest"/>'s run
    /// facts and metrics; the manifest's part list is made from the content.</summary>
    public BundleManifest Publish(BundleManifest manifest, BundleContent content, BundleForestOptions? forests = null, DateTimeOffset? now = null) =>
        Publish(manifest with { Parts = BundleWriter.Entries(content) }, dir => BundleWriter.Write(dir, content, forests), now);

    /// <summary>The training fact a republished bundle carries: the version it was copied from.</summary>
    public const string RepublishedFromKey = "republishedFrom";

    /// <summary>
    /// Publishes a copy of an existing bundle directory as a new version (a rollback or a restored backup): the source
    /// is opened and fully verified first (checksums included, <paramref name="families"/>' checks too), its files are
    /// copied, and the copy is published like a trained bundle. Its manifest keeps the source's parts, facts and metrics.
    /// </summary>
    public BundleManifest Republish(string sourceDirectory, ModelFamilies? families = null)
    {
        BundleManifest source;
        using (var bundle = ModelBundle.Open(sourceDirectory, verifyChecksums: true, families)) source = bundle.Manifest;
        var training = new SortedDictionary<string, string>(source.Training, StringComparer.Ordinal) { [RepublishedFromKey] = source.ModelVersion };
        return Publish(source with { Training = training }, staging =>
        {
            foreach (var file in source.Files) File.Copy(Path.Combine(sourceDirectory, file.Name), Path.Combine(staging, file.Name));
        });
    }

    /// <summary>Points <c>CURRENT</c> at a published version by writing a temp file and renaming it over. A failure
    /// (a full disk, a read-only directory) leaves <c>CURRENT</c> as it was and removes the temp file.</summary>
    public void SetCurrent(string version)
    {
        if (!IsVersionName(version) || !Directory.Exists(PathOf(version))) throw new ArgumentException($"No published version '{version}' in {Root}.");
        var temp = Path.Combine(Root, $"{CurrentFileName}.{Guid.NewGuid():N}-{PublisherTag.Own}{TempSuffix}");
        try
        {
            WriteDurably(temp, version + "\n");
            File.Move(temp, Path.Combine(Root, CurrentFileName), overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
            throw;
        }
        FlushDirectory(Root);
    }

    /// <summary>Deletes all but the newest <paramref name="keep"/> versions (never the current one) and leftovers
    /// (<see cref="RemoveLeftovers"/>).</summary>
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
        RemoveLeftovers();
        return removed;
    }

    /// <summary>How long a leftover whose publisher cannot be checked (another host or pid namespace, or an older build's
    /// name) is kept before it is taken as abandoned.</summary>
    public static readonly TimeSpan LeftoverAge = TimeSpan.FromHours(1);

    /// <summary>
    /// Removes what crashed publishers left: staging directories and <c>CURRENT</c> temp files. Each name carries its
    /// publisher (<see cref="PublisherTag"/>); a leftover of a publisher on this host and pid namespace is removed as soon
    /// as that process is gone, one from elsewhere only when older than <see cref="LeftoverAge"/>. Returns the names removed.
    /// </summary>
    public IReadOnlyList<string> RemoveLeftovers()
    {
        var removed = new List<string>();
        if (!Directory.Exists(Root)) return removed;
        var stale = DateTime.UtcNow - LeftoverAge;
        foreach (var staging in Directory.EnumerateDirectories(Root, StagingPrefix + "*"))
        {
            if (!PublisherTag.IsAbandoned(Path.GetFileName(staging), Directory.GetLastWriteTimeUtc(staging), stale)) continue;
            try
            {
                Directory.Delete(staging, recursive: true);
                removed.Add(Path.GetFileName(staging));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        }
        foreach (var temp in Directory.EnumerateFiles(Root, CurrentFileName + ".*" + TempSuffix))
        {
            var name = Path.GetFileName(temp);
            if (!PublisherTag.IsAbandoned(name[..^TempSuffix.Length], File.GetLastWriteTimeUtc(temp), stale)) continue;
            try
            {
                File.Delete(temp);
                removed.Add(name);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        }
        return removed;
    }

    private const string TempSuffix = ".tmp";

    /// <summary>Published files are read-only: an operator's editor or a careless copy gets EACCES instead of changing a
    /// file a replica maps (root is not stopped by it; the replica's change check covers that, FORMAT.md "Faults").</summary>
    private static void MakeReadOnly(string path)
    {
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    private static void WriteDurably(string path, string text)
    {
        using var stream = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None);
        stream.Write(System.Text.Encoding.UTF8.GetBytes(text));
        stream.Flush(flushToDisk: true);
    }

    /// <summary>fsync a file through a read-only descriptor (the file may already be read-only).</summary>
    private static void FlushFile(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
            stream.Flush(flushToDisk: true);
            return;
        }
        using var handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Posix.fsync((int)handle.DangerousGetHandle()) != 0) throw new IOException($"{path}: fsync failed (errno {Marshal.GetLastPInvokeError()}).");
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>fsync a directory so a rename inside it survives a crash (POSIX only; a no-op elsewhere).</summary>
    private static void FlushDirectory(string path)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS()) return;
        var fd = Posix.open(path, Posix.ReadOnly);
        if (fd < 0) return;
        try { Posix.fsync(fd); }
        finally { Posix.close(fd); }
    }
}
