using System.Runtime.InteropServices;

namespace RecService.Ingest.Files;

/// <summary>
/// Tells a regular file from a FIFO, device, socket or directory before anything opens it: opening a FIFO for
/// reading blocks until a writer appears, and a device never ends. .NET reports no file type on Unix, so on Linux
/// this asks the kernel (<c>statx</c>, whose layout is the same on every architecture); elsewhere only directories
/// are told apart.
/// </summary>
internal static partial class FileKinds
{
    private const int AtFdCwd = -100;
    private const uint StatxType = 0x1;
    private const int StatxModeOffset = 28;
    private const int StatxSize = 256;

    /// <summary>Null when <paramref name="path"/> is a regular file (symbolic links followed) or cannot be examined
    /// (a missing file is left for the open to report); otherwise what it is, for a message: "a FIFO".</summary>
    public static string? NotRegular(string path)
    {
        if (Directory.Exists(path)) return "a directory";
        if (!OperatingSystem.IsLinux()) return null;
        Span<byte> status = stackalloc byte[StatxSize];
        try
        {
            if (Statx(AtFdCwd, path, 0, StatxType, ref MemoryMarshal.GetReference(status)) != 0) return null;
        }
        catch (Exception ex) when (ex is EntryPointNotFoundException or DllNotFoundException)
        {
            return null; // an old C library without statx: directories are still refused above
        }
        var mode = MemoryMarshal.Read<ushort>(status[StatxModeOffset..]);
        return (mode & 0xF000) switch
        {
            0x8000 => null,
            0x1000 => "a FIFO",
            0x2000 => "a character device",
            0x6000 => "a block device",
            0xC000 => "a socket",
            0x4000 => "a directory",
            _ => "not a regular file",
        };
    }

    [LibraryImport("libc", EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Statx(int directory, string path, int flags, uint mask, ref byte status);
}
