using System.Buffers;
using System.Buffers.Text;
using System.IO.Compression;
using System.Text;

namespace RecService.Ingest.Logs;

/// <summary>
/// Streams <c>user_id&lt;TAB&gt;track_id[&lt;TAB&gt;plays]</c> rows (gzip-compressed for <see cref="Gzip"/>) into a sink.
/// Works on UTF-8 bytes in a pooled 1 MiB window: lines are found with vectorized IndexOf, ids are decoded
/// into stack buffers and resolved without allocating, so the cost per row is two hash lookups and a store.
/// </summary>
public sealed class TsvPlayLogReader : IPlayLogReader
{
    public static TsvPlayLogReader Plain { get; } = new(compressed: false);
    public static TsvPlayLogReader Gzip { get; } = new(compressed: true);

    private const int WindowBytes = 1 << 20;
    private static ReadOnlySpan<byte> Header => "user_id\t"u8;

    private readonly bool _compressed;

    private TsvPlayLogReader(bool compressed) => _compressed = compressed;

    public Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
    {
        Read(path, sink);
        return Task.CompletedTask;
    }

    public void Read(string path, IPlaySink sink)
    {
        sink.FileStarted(path);
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
        using Stream stream = _compressed ? new GZipStream(file, CompressionMode.Decompress) : file;
        try
        {
            Read(stream, path, sink);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
    }

    /// <summary>Reads TSV rows from an open stream (already decompressed); <paramref name="label"/> names it in bad-row reports.</summary>
    public static void Read(Stream stream, string label, IPlaySink sink)
    {
        var window = ArrayPool<byte>.Shared.Rent(WindowBytes);
        try
        {
            var filled = 0;
            long line = 0;
            while (true)
            {
                if (filled == window.Length)
                {
                    // A single line longer than the window: grow rather than split it.
                    var bigger = ArrayPool<byte>.Shared.Rent(window.Length * 2);
                    window.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(window);
                    window = bigger;
                }
                var read = stream.Read(window, filled, window.Length - filled);
                filled += read;
                var data = window.AsSpan(0, filled);
                var consumed = 0;
                while (true)
                {
                    var rest = data[consumed..];
                    var newline = rest.IndexOf((byte)'\n');
                    if (newline < 0) break;
                    ParseLine(rest[..newline], ++line, label, sink);
                    consumed += newline + 1;
                }
                if (read == 0)
                {
                    if (consumed < filled) ParseLine(data[consumed..], ++line, label, sink);
                    return;
                }
                data[consumed..].CopyTo(window);
                filled -= consumed;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    private static void ParseLine(ReadOnlySpan<byte> line, long lineNumber, string label, IPlaySink sink)
    {
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        if (line.IsEmpty) return;
        if (lineNumber == 1 && line.StartsWith(Header)) return;

        var tab = line.IndexOf((byte)'\t');
        if (tab <= 0)
        {
            sink.BadRow(BadRowReason.MissingField, label, lineNumber, "");
            return;
        }
        var user = line[..tab];
        var rest = line[(tab + 1)..];
        tab = rest.IndexOf((byte)'\t');
        var track = tab < 0 ? rest : rest[..tab];
        double plays = 1;
        if (tab >= 0)
        {
            var field = rest[(tab + 1)..];
            var extra = field.IndexOf((byte)'\t');
            if (extra >= 0) field = field[..extra]; // later columns (e.g. a timestamp) are ignored
            if (!Utf8Parser.TryParse(field, out plays, out var used) || used != field.Length)
            {
                sink.BadRow(BadRowReason.BadPlays, label, lineNumber, Encoding.UTF8.GetString(field[..Math.Min(field.Length, 32)]));
                return;
            }
        }
        if (user.Length > PlayAggregator.MaxIdLength * 3 || track.Length > PlayAggregator.MaxIdLength * 3)
        {
            sink.BadRow(BadRowReason.IdTooLong, label, lineNumber, "");
            return;
        }
        // UTF-8 never decodes to more chars than bytes, so byte length bounds the stack buffer.
        Span<char> userChars = stackalloc char[user.Length];
        Span<char> trackChars = stackalloc char[track.Length];
        var u = Encoding.UTF8.GetChars(user, userChars);
        var t = Encoding.UTF8.GetChars(track, trackChars);
        sink.Add(userChars[..u], trackChars[..t], plays, label, lineNumber);
    }
}
