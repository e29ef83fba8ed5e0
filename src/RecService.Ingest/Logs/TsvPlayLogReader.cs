using RecService.Core.Ids;
using System.Buffers;
using System.Buffers.Text;
using System.Text;
using System.Text.Unicode;
using RecService.Ingest.Files;

namespace RecService.Ingest.Logs;

/// <summary>
/// Streams <c>user_id&lt;TAB&gt;track_id[&lt;TAB&gt;plays[&lt;TAB&gt;timestamp]]</c> rows (gzip-compressed for
/// <see cref="Gzip"/>) into a sink; with another <see cref="RowLayout"/> (<see cref="PlaylistsPlain"/>), rows of that
/// layout (<c>playlist_id&lt;TAB&gt;track_id[&lt;TAB&gt;position]</c>).
/// Works on UTF-8 bytes in a pooled window of <see cref="MaxLineBytes"/>: lines are found with vectorized IndexOf, ids
/// are decoded into stack buffers and resolved without allocating, so the cost per row is two hash lookups and a store.
/// A longer line is a bad row, skipped without buffering it; memory stays one window whatever the input.
/// </summary>
public sealed class TsvPlayLogReader : IPlayLogReader
{
    public static TsvPlayLogReader Plain { get; } = new(compressed: false, RowLayout.Plays);
    public static TsvPlayLogReader Gzip { get; } = new(compressed: true, RowLayout.Plays);
    public static TsvPlayLogReader PlaylistsPlain { get; } = new(compressed: false, RowLayout.Playlists);
    public static TsvPlayLogReader PlaylistsGzip { get; } = new(compressed: true, RowLayout.Playlists);

    /// <summary>The read window: a line this long or longer (without its newline) is a <see cref="BadRowReason.LineTooLong"/> row.</summary>
    public const int MaxLineBytes = 1 << 20;
    private static ReadOnlySpan<byte> ByteOrderMark => [0xEF, 0xBB, 0xBF];

    private readonly bool _compressed;
    private readonly RowLayout _layout;

    private TsvPlayLogReader(bool compressed, RowLayout layout)
    {
        _compressed = compressed;
        _layout = layout;
    }

    /// <summary>Reads one file. A truncated or corrupt gzip file, or one that cannot be read, throws naming the file.</summary>
    public async Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
    {
        await using var file = InputFiles.OpenRead(path);
        sink.FileStarted(path);
        await using Stream stream = _compressed ? new VerifiedGzipStream(file) : file;
        try
        {
            await ReadAsync(stream, path, sink, _layout, cancellationToken);
        }
        catch (InvalidDataException ex)
        {
            throw new InvalidDataException($"{path}: {ex.Message}", ex);
        }
        catch (IOException ex)
        {
            throw new IOException($"{path}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Reads TSV rows from an open stream (already decompressed); <paramref name="label"/> names it in bad-row reports.
    /// A cancellable read runs on a thread of its own, so cancellation returns at once even while a read blocks (a
    /// stalled disk or network file system: such a read cannot be interrupted); that thread stops at its next window, or
    /// when the read returns. The sink may still get the rows of the window being parsed: discard it after cancellation.
    /// </summary>
    public static Task ReadAsync(Stream stream, string label, IPlaySink sink, CancellationToken cancellationToken = default) =>
        ReadAsync(stream, label, sink, RowLayout.Plays, cancellationToken);

    /// <summary>Reads rows of <paramref name="layout"/> from an open stream, as the overload above reads plays.</summary>
    public static async Task ReadAsync(Stream stream, string label, IPlaySink sink, RowLayout layout, CancellationToken cancellationToken = default)
    {
        var rows = new RowTarget(label, sink, layout);
        if (!cancellationToken.CanBeCanceled)
        {
            Read(stream, rows, cancellationToken);
            return;
        }
        cancellationToken.ThrowIfCancellationRequested();
        var reading = Task.Factory.StartNew(() => Read(stream, rows, cancellationToken), cancellationToken, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        await AbandonableReads.WaitAsync(reading, cancellationToken);
    }

    /// <summary>Where parsed rows go and how they are laid out: one per file, so the per-line calls carry one reference.</summary>
    private sealed record RowTarget(string Label, IPlaySink Sink, RowLayout Layout);

    /// <summary>The read loop: one pooled window, reads straight into it, complete lines parsed in place.</summary>
    private static void Read(Stream stream, RowTarget rows, CancellationToken cancellationToken)
    {
        var window = ArrayPool<byte>.Shared.Rent(MaxLineBytes);
        try
        {
            var cursor = new LineCursor();
            var filled = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var read = stream.Read(window, filled, MaxLineBytes - filled);
                filled = ParseWindow(window, filled, read, ref cursor, rows);
                if (read == 0) return;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    /// <summary>Where reading is: the last line number given out, and whether the rest of an over-long line is being skipped.</summary>
    private struct LineCursor
    {
        public long Line;
        public bool SkippingLongLine;
    }

    /// <summary>Parses the complete lines in the window (<paramref name="previous"/> bytes kept from before, then
    /// <paramref name="read"/> new ones; none new means the end); returns how many bytes it moved to the front for the next read.</summary>
    private static int ParseWindow(byte[] window, int previous, int read, ref LineCursor cursor, RowTarget rows)
    {
        var data = window.AsSpan(0, previous + read);
        var consumed = 0;
        var searchFrom = previous; // the kept bytes hold no newline
        if (cursor.SkippingLongLine)
        {
            var end = data.IndexOf((byte)'\n');
            if (end < 0) return 0;
            cursor.SkippingLongLine = false;
            consumed = end + 1;
            searchFrom = consumed;
        }
        while (true)
        {
            var newline = data[searchFrom..].IndexOf((byte)'\n');
            if (newline < 0) break;
            ParseLine(data[consumed..(searchFrom + newline)], ++cursor.Line, rows);
            consumed = searchFrom + newline + 1;
            searchFrom = consumed;
        }
        if (read == 0)
        {
            if (consumed < data.Length) ParseLine(data[consumed..], ++cursor.Line, rows);
            return 0;
        }
        var left = data.Length - consumed;
        if (left == MaxLineBytes)
        {
            rows.Sink.BadRow(BadRowReason.LineTooLong, rows.Label, ++cursor.Line, "");
            cursor.SkippingLongLine = true;
            return 0;
        }
        data[consumed..].CopyTo(window);
        return left;
    }

    private static void ParseLine(ReadOnlySpan<byte> line, long lineNumber, RowTarget rows)
    {
        var (label, sink, layout) = rows;
        if (lineNumber == 1 && line.StartsWith(ByteOrderMark)) line = line[ByteOrderMark.Length..];
        if (!line.IsEmpty && line[^1] == (byte)'\r') line = line[..^1];
        if (line.IsEmpty) return;
        if (lineNumber == 1 && line.StartsWith(layout.HeaderPrefix)) return;

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
        double? value = null;
        long? time = null;
        if (tab >= 0)
        {
            var field = rest[(tab + 1)..];
            var extra = field.IndexOf((byte)'\t');
            var after = extra >= 0 ? field[(extra + 1)..] : default;
            if (extra >= 0) field = field[..extra];
            if (!Utf8Parser.TryParse(field, out double parsed, out var used) || used != field.Length)
            {
                sink.BadRow(BadRowReason.BadPlays, label, lineNumber, Encoding.UTF8.GetString(field[..Math.Min(field.Length, 32)]));
                return;
            }
            value = parsed;
            // The time column, where the layout has one; columns after it (and in layouts without one) are ignored.
            if (extra >= 0 && layout.TimeColumn is not null)
            {
                var next = after.IndexOf((byte)'\t');
                var timeField = next >= 0 ? after[..next] : after;
                if (!timeField.IsEmpty)
                {
                    if (!PlayTimestamps.TryParse(timeField, out var seconds))
                    {
                        sink.BadRow(BadRowReason.BadTimestamp, label, lineNumber, Encoding.UTF8.GetString(timeField[..Math.Min(timeField.Length, 40)]));
                        return;
                    }
                    time = seconds;
                }
            }
        }
        if (user.Length > IdLimits.MaxUtf8Bytes || track.Length > IdLimits.MaxUtf8Bytes) // bytes here: the bound itself
        {
            sink.BadRow(BadRowReason.IdTooLong, label, lineNumber, "");
            return;
        }
        // UTF-8 never decodes to more chars than bytes, so byte length bounds the stack buffer.
        Span<char> userChars = stackalloc char[user.Length];
        Span<char> trackChars = stackalloc char[track.Length];
        if (Utf8.ToUtf16(user, userChars, out _, out var u, replaceInvalidSequences: false) != OperationStatus.Done
            || Utf8.ToUtf16(track, trackChars, out _, out var t, replaceInvalidSequences: false) != OperationStatus.Done)
        {
            sink.BadRow(BadRowReason.InvalidUtf8, label, lineNumber, "");
            return;
        }
        sink.Add(userChars[..u], trackChars[..t], value, time, label, lineNumber);
    }
}
