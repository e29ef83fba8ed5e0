using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RecService.Core.Files;

/// <summary>What kind of file system entry a path is, without opening it (a FIFO must never be opened for reading
/// by a watcher: the open blocks until a writer appears).</summary>
public enum FileKind { Missing, Regular, Directory, SymbolicLink, Fifo, CharacterDevice, BlockDevice, Socket, Other }

public static class FileKinds
{
    /// <summary>The kind in words, for a message ("a FIFO").</summary>
    public static string Describe(FileKind kind) => kind switch
    {
        FileKind.Missing => "missing",
        FileKind.Regular => "a regular file",
        FileKind.Directory => "a directory",
        FileKind.SymbolicLink => "a symbolic link",
        FileKind.Fifo => "a FIFO",
        FileKind.CharacterDevice => "a character device",
        FileKind.BlockDevice => "a block device",
        FileKind.Socket => "a socket",
        _ => "not a regular file",
    };

    /// <summary>Null when <paramref name="path"/> is a regular file (links followed) or missing (left for the open to
    /// report); otherwise what it is, in words. Nothing is opened, so a FIFO cannot block the caller.</summary>
    public static string? NotRegular(string path) => FileIdentity.OfPath(path, followLinks: true).Kind switch
    {
        FileKind.Regular or FileKind.Missing => null,
        var kind => Describe(kind),
    };
}

/// <summary>
/// A file's identity and state as the kernel reports it (device, inode, size, modification and change times, type):
/// two equal identities of one open file mean nothing wrote, truncated or re-permissioned it in between. Linux reads it
/// with statx (whose layout is the same on every architecture); other systems fall back to size and write time.
/// </summary>
public readonly record struct FileIdentity(ulong Device, ulong Inode, long Size, long ModifiedNs, long ChangedNs, FileKind Kind)
{
    /// <summary>The entry at <paramref name="path"/>: a symbolic link itself (reported as one), or what it points to when
    /// <paramref name="followLinks"/>.</summary>
    public static FileIdentity OfPath(string path, bool followLinks = false)
    {
        if (!OperatingSystem.IsLinux())
        {
            var info = new FileInfo(path);
            if (!followLinks && info.LinkTarget is not null) return new FileIdentity(0, 0, 0, 0, 0, FileKind.SymbolicLink);
            if (System.IO.Directory.Exists(path)) return new FileIdentity(0, 0, 0, 0, 0, FileKind.Directory);
            return info.Exists ? new FileIdentity(0, 0, info.Length, info.LastWriteTimeUtc.Ticks * 100, 0, FileKind.Regular) : default;
        }
        return Posix.statx(Posix.AtCurrentDirectory, path, followLinks ? 0 : Posix.AtSymlinkNoFollow, Posix.StatxBasicStats, out var s) == 0
            ? From(in s)
            : new FileIdentity(0, 0, 0, 0, 0, FileKind.Missing);
    }

    /// <summary>The file open as <paramref name="handle"/> (what a mapping of it sees, whatever its path now names).</summary>
    public static FileIdentity Of(SafeFileHandle handle, string path)
    {
        if (!OperatingSystem.IsLinux())
            return new FileIdentity(0, 0, RandomAccess.GetLength(handle), File.GetLastWriteTimeUtc(handle).Ticks * 100, 0, FileKind.Regular);
        var added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            if (Posix.statx((int)handle.DangerousGetHandle(), "", Posix.AtEmptyPath, Posix.StatxBasicStats, out var s) != 0)
                throw new IOException($"{path}: cannot stat the open file (errno {Marshal.GetLastPInvokeError()}).");
            return From(in s);
        }
        finally
        {
            if (added) handle.DangerousRelease();
        }
    }

    /// <summary>What differs from <paramref name="before"/>, in words; null when nothing does.</summary>
    public string? ChangeSince(in FileIdentity before) =>
        Size < before.Size ? $"truncated from {before.Size} to {Size} bytes"
        : Size > before.Size ? $"grown from {before.Size} to {Size} bytes"
        : ModifiedNs != before.ModifiedNs ? "rewritten in place (modification time changed)"
        : ChangedNs != before.ChangedNs ? "changed in place (status change time changed)"
        : null;

    private static FileIdentity From(in Posix.Statx s) =>
        new(((ulong)s.DevMajor << 32) | s.DevMinor, s.Inode, (long)s.Size,
            s.ModifiedSeconds * 1_000_000_000 + s.ModifiedNanoseconds, s.ChangedSeconds * 1_000_000_000 + s.ChangedNanoseconds,
            (s.Mode & 0xF000) switch
            {
                0x8000 => FileKind.Regular,
                0x4000 => FileKind.Directory,
                0xA000 => FileKind.SymbolicLink,
                0x1000 => FileKind.Fifo,
                0x2000 => FileKind.CharacterDevice,
                0x6000 => FileKind.BlockDevice,
                0xC000 => FileKind.Socket,
                _ => FileKind.Other,
            });
}

/// <summary>The few libc calls the store needs that .NET does not expose: fsync of a directory, statx, and a
/// non-blocking open (so a FIFO put where a file belongs cannot block the caller).</summary>
internal static partial class Posix
{
    public const int AtCurrentDirectory = -100;
    public const int AtSymlinkNoFollow = 0x100;
    public const int AtEmptyPath = 0x1000;
    public const uint StatxBasicStats = 0x7ff;
    public const int ReadOnly = 0;
    /// <summary>O_NONBLOCK | O_CLOEXEC: the same values on x86-64 and arm64.</summary>
    public const int NonBlockingCloseOnExec = 0x800 | 0x80000;

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    public struct Statx
    {
        [FieldOffset(28)] public ushort Mode;
        [FieldOffset(32)] public ulong Inode;
        [FieldOffset(40)] public ulong Size;
        [FieldOffset(96)] public long ChangedSeconds;
        [FieldOffset(104)] public uint ChangedNanoseconds;
        [FieldOffset(112)] public long ModifiedSeconds;
        [FieldOffset(120)] public uint ModifiedNanoseconds;
        [FieldOffset(136)] public uint DevMajor;
        [FieldOffset(140)] public uint DevMinor;
    }

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int statx(int directory, string path, int flags, uint mask, out Statx buffer);

    [LibraryImport("libc", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);
}
