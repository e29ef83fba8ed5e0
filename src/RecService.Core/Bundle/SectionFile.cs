using System.IO.Hashing;
using System.Runtime.InteropServices;
using System.Text;

namespace RecService.Core.Bundle;

/// <summary>
/// The 64-byte header of every bundle data file (see FORMAT.md). Fixed layout, little-endian, read in place.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1, Size = 64)]
internal struct SectionFileHeader
{
    public const ulong MagicValue = 0x5443455343565352; // "RSVCSECT" read as a little-endian u64
    public const uint CurrentVersion = 1;

    public ulong Magic;
    public uint FormatVersion;
    public uint Kind;
    public uint SectionCount;
    public uint Reserved0;
    public ulong FileLength;
    /// <summary>XxHash3 of the section table: catches a corrupted table at open without reading the payload.</summary>
    public ulong TableChecksum;
    public ulong Reserved1;
    public ulong Reserved2;
    public ulong Reserved3;
}

/// <summary>One entry of the section table (32 bytes): where a typed array lives in the file.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1, Size = 32)]
internal struct SectionEntry
{
    public uint Tag;
    public uint ElementSize;
    public ulong Count;
    public ulong Offset;
    public ulong Length;
}

/// <summary>Four-character codes for file kinds and section tags, stored little-endian.</summary>
internal static class FourCC
{
    public static uint From(string code)
    {
        if (code.Length != 4) throw new ArgumentException("A four-character code has 4 ASCII characters.", nameof(code));
        return (uint)(code[0] | code[1] << 8 | code[2] << 16 | code[3] << 24);
    }

    public static string ToText(uint code) =>
        new([(char)(code & 0xFF), (char)(code >> 8 & 0xFF), (char)(code >> 16 & 0xFF), (char)(code >> 24 & 0xFF)]);
}

/// <summary>
/// Writes a section file: header, section table, then each section 64-byte aligned (so float rows start on
/// cache lines and SIMD loads never straddle them). Written to <c>path.tmp</c> and renamed, flushed to disk.
/// </summary>
internal sealed class SectionFileWriter(uint kind)
{
    public const int Alignment = 64;
    private readonly List<(uint Tag, uint ElementSize, ulong Count, byte[] Data)> _sections = [];

    public SectionFileWriter Add<T>(string tag, ReadOnlySpan<T> values) where T : unmanaged
    {
        _sections.Add((FourCC.From(tag), (uint)Marshal.SizeOf<T>(), (ulong)values.Length, MemoryMarshal.AsBytes(values).ToArray()));
        return this;
    }

    /// <summary>Adds strings as two sections: <c>offsetsTag</c> (int64[count + 1] into the blob) and <c>blobTag</c> (UTF-8).</summary>
    public SectionFileWriter AddStrings(string offsetsTag, string blobTag, IReadOnlyList<string> strings)
    {
        var offsets = new long[strings.Count + 1];
        var blob = new MemoryStream();
        Span<byte> buffer = stackalloc byte[1024];
        for (var i = 0; i < strings.Count; i++)
        {
            var bytes = Encoding.UTF8.GetByteCount(strings[i]) <= buffer.Length ? buffer[..Encoding.UTF8.GetBytes(strings[i], buffer)] : Encoding.UTF8.GetBytes(strings[i]);
            blob.Write(bytes);
            offsets[i + 1] = blob.Length;
        }
        Add<long>(offsetsTag, offsets);
        return Add<byte>(blobTag, blob.GetBuffer().AsSpan(0, (int)blob.Length));
    }

    public void Write(string path)
    {
        var tableBytes = _sections.Count * Marshal.SizeOf<SectionEntry>();
        var entries = new SectionEntry[_sections.Count];
        long position = Align(Marshal.SizeOf<SectionFileHeader>() + tableBytes);
        for (var i = 0; i < _sections.Count; i++)
        {
            var s = _sections[i];
            entries[i] = new SectionEntry { Tag = s.Tag, ElementSize = s.ElementSize, Count = s.Count, Offset = (ulong)position, Length = (ulong)s.Data.Length };
            position = Align(position + s.Data.Length);
        }
        var header = new SectionFileHeader
        {
            Magic = SectionFileHeader.MagicValue,
            FormatVersion = SectionFileHeader.CurrentVersion,
            Kind = kind,
            SectionCount = (uint)_sections.Count,
            FileLength = (ulong)position,
            TableChecksum = XxHash3.HashToUInt64(MemoryMarshal.AsBytes(entries.AsSpan())),
        };

        var temp = path + ".tmp";
        using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
        {
            stream.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<SectionFileHeader>(in header)));
            stream.Write(MemoryMarshal.AsBytes(entries.AsSpan()));
            for (var i = 0; i < _sections.Count; i++)
            {
                Pad(stream, (long)entries[i].Offset);
                stream.Write(_sections[i].Data);
            }
            Pad(stream, position);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temp, path, overwrite: true);
    }

    private static long Align(long n) => (n + Alignment - 1) / Alignment * Alignment;

    private static void Pad(Stream stream, long target)
    {
        Span<byte> zeros = stackalloc byte[Alignment];
        while (stream.Position < target) stream.Write(zeros[..(int)Math.Min(Alignment, target - stream.Position)]);
    }
}

/// <summary>
/// A section file opened by mapping: the header and table are validated at open (magic, version, kind, length,
/// table checksum, every section inside the file, aligned, and length = count x element size), so later reads
/// need no checks beyond the index they are given. Cost is O(sections), not O(size).
/// </summary>
internal sealed class SectionFile : IDisposable
{
    private readonly Dictionary<uint, SectionEntry> _sections = [];

    private SectionFile(MappedFile file, uint kind)
    {
        File = file;
        Kind = kind;
    }

    public MappedFile File { get; }
    public uint Kind { get; }
    public string Path => File.Path;

    public static SectionFile Open(string path, string expectedKind)
    {
        var file = MappedFile.Open(path);
        try
        {
            var result = new SectionFile(file, FourCC.From(expectedKind));
            result.Validate(expectedKind);
            return result;
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private void Validate(string expectedKind)
    {
        var headerSize = Marshal.SizeOf<SectionFileHeader>();
        if (File.Length < headerSize) throw Corrupt($"{File.Length} bytes is shorter than the {headerSize}-byte header");
        var header = MemoryMarshal.Read<SectionFileHeader>(File.Bytes(0, headerSize));
        if (header.Magic != SectionFileHeader.MagicValue) throw Corrupt("not a RecService bundle file (bad magic)");
        if (header.FormatVersion != SectionFileHeader.CurrentVersion) throw Corrupt($"format version {header.FormatVersion}, this build reads {SectionFileHeader.CurrentVersion}");
        if (header.Kind != Kind) throw Corrupt($"file kind '{FourCC.ToText(header.Kind)}', expected '{expectedKind}'");
        if (header.FileLength != (ulong)File.Length) throw Corrupt($"header says {header.FileLength} bytes, file has {File.Length} (truncated or appended)");
        if (header.SectionCount > 4096) throw Corrupt($"{header.SectionCount} sections is beyond any file this build writes");
        var tableBytes = (long)header.SectionCount * Marshal.SizeOf<SectionEntry>();
        if (headerSize + tableBytes > File.Length) throw Corrupt("section table runs past the end of the file");
        var table = File.Bytes(headerSize, tableBytes);
        if (XxHash3.HashToUInt64(table) != header.TableChecksum) throw Corrupt("section table checksum mismatch");
        foreach (var entry in MemoryMarshal.Cast<byte, SectionEntry>(table))
        {
            var tag = FourCC.ToText(entry.Tag);
            if (entry.ElementSize is 0 or > 64) throw Corrupt($"section '{tag}' has element size {entry.ElementSize}");
            if (entry.Offset % SectionFileWriter.Alignment != 0) throw Corrupt($"section '{tag}' is not {SectionFileWriter.Alignment}-byte aligned");
            if (entry.Count > long.MaxValue / 64 || entry.Count * entry.ElementSize != entry.Length) throw Corrupt($"section '{tag}' length {entry.Length} != count {entry.Count} x {entry.ElementSize}");
            if (entry.Offset < (ulong)(headerSize + tableBytes) || entry.Offset > (ulong)File.Length || entry.Length > (ulong)File.Length - entry.Offset)
                throw Corrupt($"section '{tag}' [{entry.Offset}, +{entry.Length}) lies outside the file");
            if (!_sections.TryAdd(entry.Tag, entry)) throw Corrupt($"section '{tag}' appears twice");
        }
    }

    private InvalidDataException Corrupt(string why) => new($"{File.Path}: {why}.");

    public bool Has(string tag) => _sections.ContainsKey(FourCC.From(tag));

    /// <summary>The section's entry, checked to hold elements of <typeparamref name="T"/>.</summary>
    public SectionEntry Entry<T>(string tag) where T : unmanaged
    {
        if (!_sections.TryGetValue(FourCC.From(tag), out var entry)) throw Corrupt($"section '{tag}' is missing");
        if (entry.ElementSize != (uint)Marshal.SizeOf<T>()) throw Corrupt($"section '{tag}' holds {entry.ElementSize}-byte elements, expected {Marshal.SizeOf<T>()}");
        return entry;
    }

    /// <summary>The whole section as a span (sections over 2 GB are read through <see cref="Pointer{T}"/> instead).</summary>
    public ReadOnlySpan<T> Span<T>(string tag) where T : unmanaged
    {
        var entry = Entry<T>(tag);
        return File.Span<T>((long)entry.Offset, (long)entry.Count);
    }

    public unsafe T* Pointer<T>(string tag, out long count) where T : unmanaged
    {
        var entry = Entry<T>(tag);
        count = (long)entry.Count;
        return (T*)(File.Pointer + entry.Offset);
    }

    public void Dispose() => File.Dispose();
}
