using RecService.Core.Files;
using System.IO.MemoryMappedFiles;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace RecService.Core.Bundle;

/// <summary>
/// A whole file mapped read-only, exposed as a base pointer and typed spans. The OS page cache backs it, so
/// replicas on one machine share the same physical pages and opening costs O(1) whatever the size.
/// Opened with FileShare.Delete so a publisher can prune an old version while a replica still maps it.
/// </summary>
internal sealed unsafe class MappedFile : IDisposable
{
    private readonly MemoryMappedFile _map;
    private readonly MemoryMappedViewAccessor _view;
    private byte* _pointer;

    private readonly SafeFileHandle _handle;

    private MappedFile(string path, MemoryMappedFile map, MemoryMappedViewAccessor view, long length, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
        Identity = FileIdentity.Of(handle, path);
        _map = map;
        _view = view;
        Length = length;
        byte* p = null;
        view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
        _pointer = p + view.PointerOffset;
    }

    public string Path { get; }
    public long Length { get; }

    /// <summary>The mapped file's state when it was opened (<see cref="ChangeSinceOpen"/> compares against it).</summary>
    public FileIdentity Identity { get; }

    /// <summary>
    /// How the mapped file itself (the open inode, wherever its path now points) changed since it was opened: truncated,
    /// rewritten in place or re-permissioned; null when unchanged. A replaced path (a new file renamed over) is no change:
    /// the mapping still holds the old file's pages.
    /// </summary>
    public string? ChangeSinceOpen(out bool contentChanged)
    {
        contentChanged = false;
        if (_pointer == null) return null;
        var before = Identity;
        var now = FileIdentity.Of(_handle, Path);
        contentChanged = now.Size != before.Size || now.ModifiedNs != before.ModifiedNs;
        return now.ChangeSince(in before);
    }
    public byte* Pointer => _pointer != null ? _pointer : throw new ObjectDisposedException(Path);

    /// <summary>The view's handle, for a reader that keeps the mapping alive across a call with DangerousAddRef/Release
    /// while another thread may dispose it.</summary>
    internal SafeMemoryMappedViewHandle ViewHandle => _view.SafeMemoryMappedViewHandle;

    /// <param name="options">Access hints for the file (a forest passes RandomAccess: queries touch scattered pages).</param>
    public static MappedFile Open(string path, FileOptions options = FileOptions.None)
    {
        var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete, 1, options);
        try
        {
            var length = stream.Length;
            if (length == 0) throw new InvalidDataException($"{path}: file is empty.");
            var map = MemoryMappedFile.CreateFromFile(stream, null, 0, MemoryMappedFileAccess.Read, HandleInheritability.None, leaveOpen: false);
            try
            {
                var view = map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
                return new MappedFile(path, map, view, length, stream.SafeFileHandle);
            }
            catch
            {
                map.Dispose();
                throw;
            }
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    /// <summary>The bytes [offset, offset + length); callers have bounds-checked against <see cref="Length"/>.</summary>
    public ReadOnlySpan<byte> Bytes(long offset, long length)
    {
        if (offset < 0 || length < 0 || offset > Length - length || length > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{Path}: range {offset}+{length} is outside the file ({Length} bytes) or too long for a span.");
        return new ReadOnlySpan<byte>(Pointer + offset, (int)length);
    }

    public ReadOnlySpan<T> Span<T>(long offset, long count) where T : unmanaged
    {
        var bytes = Bytes(offset, checked(count * sizeof(T)));
        return MemoryMarshal.Cast<byte, T>(bytes);
    }

    public void Dispose()
    {
        if (_pointer == null) return;
        _pointer = null;
        _view.SafeMemoryMappedViewHandle.ReleasePointer();
        _view.Dispose();
        _map.Dispose();
    }
}
