using Parquet;
using Parquet.Schema;
using RecService.Ingest.Files;

namespace RecService.Ingest.Logs;

/// <summary>
/// Reads Parquet play logs with columns <c>user_id</c> and <c>track_id</c> (strings), an optional numeric
/// <c>plays</c> (int32, int64, float or double; null or absent means 1) and an optional <c>timestamp</c> (a Parquet
/// timestamp, int32/int64 unix seconds, or strings as <see cref="PlayTimestamps"/> reads them; null means none). With
/// another <see cref="RowLayout"/>, that layout's columns (playlists: <c>playlist_id</c>, <c>track_id</c>, <c>position</c>).
/// Bad rows are labelled by row number; a file whose metadata or pages cannot be decoded fails naming the file, the
/// row group and the column. Cancellation returns at once, even while the library waits on a read (the sink may still
/// get the rows of the group being added).
/// </summary>
public sealed class ParquetPlayLogReader(RowLayout? layout = null) : IPlayLogReader
{
    public const string UserColumn = "user_id";
    public const string TrackColumn = "track_id";
    public const string PlaysColumn = "plays";
    public const string TimestampColumn = "timestamp";

    private readonly RowLayout _layout = layout ?? RowLayout.Plays;

    /// <summary>Rows one row group may hold: a group is read whole, so its size bounds memory (write smaller groups).</summary>
    public const long MaxRowGroupRows = 1 << 25;

    private const string NumberTypes = "int32, int64, float or double";

    public async Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
    {
        await using var stream = InputFiles.OpenRead(path);
        sink.FileStarted(path);
        try
        {
            await AbandonableReads.WaitAsync(ReadAsync(stream, path, sink, _layout, cancellationToken), cancellationToken);
        }
        catch (Exception ex) when (ex is not (InvalidDataException or OperationCanceledException or OutOfMemoryException))
        {
            // The library's own errors (a corrupt footer or schema) say what but not where.
            throw new InvalidDataException($"{path}: not a readable Parquet file: {ex.Message}", ex);
        }
    }

    private static async Task ReadAsync(Stream stream, string path, IPlaySink sink, RowLayout layout, CancellationToken cancellationToken)
    {
        await using var reader = await ParquetReader.CreateAsync(stream, cancellationToken: cancellationToken);
        {
            var fields = reader.Schema.GetDataFields();
            var userField = Find(fields, layout.KeyColumn, path, required: true)!;
            var trackField = Find(fields, layout.ItemColumn, path, required: true)!;
            var playsField = Find(fields, layout.ValueColumn, path, required: false);
            var timeField = layout.TimeColumn is null ? null : Find(fields, layout.TimeColumn, path, required: false);
            RequireStrings(userField, path);
            RequireStrings(trackField, path);
            if (playsField is not null && !IsNumber(playsField.ClrType))
                throw new InvalidDataException($"{path}: column '{playsField.Name}' holds {Describe(playsField.ClrType)}; expected numbers ({NumberTypes}).");
            if (timeField is not null && !IsTime(timeField.ClrType))
                throw new InvalidDataException($"{path}: column '{timeField.Name}' holds {Describe(timeField.ClrType)}; expected timestamps, int32 or int64 unix seconds, or strings.");
            long rowBase = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                if (group.RowCount is < 0 or > MaxRowGroupRows)
                    throw new InvalidDataException($"{path}: row group {g} claims {group.RowCount} rows (at most {MaxRowGroupRows} are read in one group).");
                var n = (int)group.RowCount;
                var users = new string?[n];
                var tracks = new string?[n];
                await ReadColumnAsync(path, g, userField, () => group.ReadAsync(userField, users.AsMemory(), null, cancellationToken).AsTask());
                await ReadColumnAsync(path, g, trackField, () => group.ReadAsync(trackField, tracks.AsMemory(), null, cancellationToken).AsTask());
                double?[]? plays = null;
                if (playsField is not null)
                {
                    var values = new double?[n];
                    await ReadColumnAsync(path, g, playsField, () => ReadPlaysAsync(group, playsField, values, cancellationToken));
                    plays = values;
                }
                var times = new TimeColumn(timeField, n);
                if (timeField is not null) await ReadColumnAsync(path, g, timeField, () => times.ReadAsync(group, cancellationToken));
                for (var i = 0; i < n; i++)
                {
                    var user = users[i] ?? "";
                    var track = tracks[i] ?? "";
                    var row = rowBase + i + 1;
                    // The library decodes strings itself, putting U+FFFD where the bytes were not UTF-8.
                    if (user.Contains('\uFFFD') || track.Contains('\uFFFD')) sink.BadRow(BadRowReason.InvalidUtf8, path, row, "");
                    else if (!times.TryGet(i, out var time)) sink.BadRow(BadRowReason.BadTimestamp, path, row, times.Text(i));
                    else sink.Add(user, track, plays?[i], time, path, row);
                }
                rowBase += n;
            }
        }
    }

    private static DataField? Find(DataField[] fields, string name, string path, bool required)
    {
        var field = fields.FirstOrDefault(f => string.Equals(f.Name, name, StringComparison.OrdinalIgnoreCase));
        if (field is null && required)
            throw new InvalidDataException($"{path}: Parquet file has no '{name}' column (columns: {string.Join(", ", fields.Select(f => f.Name))}).");
        return field;
    }

    private static void RequireStrings(DataField field, string path)
    {
        if (!IsString(field.ClrType))
            throw new InvalidDataException($"{path}: column '{field.Name}' holds {Describe(field.ClrType)}; expected strings (UTF-8 text).");
    }

    private static bool IsString(Type type) => type == typeof(string) || type == typeof(ReadOnlyMemory<char>);

    private static bool IsTime(Type type) =>
        IsString(type) || type == typeof(int) || type == typeof(long) || type == typeof(DateTime) || type == typeof(DateTimeOffset);

    /// <summary>
    /// One row group's time column as unix seconds: a Parquet timestamp (UTC; the library's unspecified kind is taken as
    /// UTC), whole unix seconds, or text (<see cref="PlayTimestamps"/>). Holds what the group's rows had until asked.
    /// </summary>
    private sealed class TimeColumn(DataField? field, int rows)
    {
        private readonly long?[] _seconds = new long?[field is null ? 0 : rows];
        private readonly bool[] _bad = new bool[field is null ? 0 : rows];
        private string?[]? _text;

        public async Task ReadAsync(ParquetRowGroupReader group, CancellationToken ct)
        {
            var type = field!.ClrType;
            if (IsString(type))
            {
                _text = new string?[rows];
                await group.ReadAsync(field, _text.AsMemory(), null, ct);
                for (var i = 0; i < rows; i++)
                {
                    if (_text[i] is not { } text) continue;
                    if (PlayTimestamps.TryParse(text.AsSpan(), out var s)) _seconds[i] = s;
                    else _bad[i] = true;
                }
            }
            else if (type == typeof(int)) await Read<int>(group, v => v, ct);
            else if (type == typeof(long)) await Read<long>(group, v => v, ct);
            else if (type == typeof(DateTimeOffset)) await Read<DateTimeOffset>(group, v => v.ToUnixTimeSeconds(), ct);
            else await Read<DateTime>(group, v => new DateTimeOffset(v.Kind == DateTimeKind.Local ? v.ToUniversalTime() : DateTime.SpecifyKind(v, DateTimeKind.Utc)).ToUnixTimeSeconds(), ct);
        }

        private async Task Read<T>(ParquetRowGroupReader group, Func<T, long> seconds, CancellationToken ct) where T : struct
        {
            var values = new T?[rows];
            if (field!.IsNullable) await group.ReadAsync(field, values.AsMemory(), null, ct);
            else
            {
                var plain = new T[rows];
                await group.ReadAsync(field, plain.AsMemory(), null, ct);
                for (var i = 0; i < rows; i++) values[i] = plain[i];
            }
            for (var i = 0; i < rows; i++)
            {
                if (values[i] is not { } v) continue;
                var s = seconds(v);
                if (PlayTimestamps.InRange(s)) _seconds[i] = s;
                else _bad[i] = true;
            }
        }

        /// <summary>Row <paramref name="i"/>'s time (null when the column is absent or null there); false when it is bad.</summary>
        public bool TryGet(int i, out long? seconds)
        {
            seconds = _seconds.Length == 0 ? null : _seconds[i];
            return _bad.Length == 0 || !_bad[i];
        }

        /// <summary>A bad value for the report, shortened.</summary>
        public string Text(int i) => _text?[i] is { } t ? t[..Math.Min(t.Length, 40)] : "out of range";
    }

    private static bool IsNumber(Type type) => type == typeof(int) || type == typeof(long) || type == typeof(float) || type == typeof(double);

    /// <summary>A column's values in words, as a Parquet user knows them (never a CLR type name).</summary>
    private static string Describe(Type type) => type switch
    {
        _ when IsString(type) => "strings (text)",
        _ when type == typeof(bool) => "booleans",
        _ when type == typeof(int) => "int32 numbers",
        _ when type == typeof(long) => "int64 numbers",
        _ when type == typeof(float) => "float numbers",
        _ when type == typeof(double) => "double numbers",
        _ when type == typeof(sbyte) || type == typeof(byte) || type == typeof(short) || type == typeof(ushort) => "small integers (int8 or int16)",
        _ when type == typeof(uint) || type == typeof(ulong) => "unsigned integers",
        _ when type == typeof(decimal) => "decimals",
        _ when type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(DateOnly) => "dates or timestamps",
        _ when type == typeof(TimeSpan) || type == typeof(TimeOnly) => "times or intervals",
        _ when type == typeof(byte[]) => "binary values",
        _ when type == typeof(Guid) => "UUIDs",
        _ => "values of another type",
    };

    /// <summary>Reads one column chunk; a page the library cannot decode becomes an error naming the file, group and column.</summary>
    private static async Task ReadColumnAsync(string path, int group, DataField field, Func<Task> read)
    {
        try
        {
            await read();
        }
        catch (Exception ex) when (ex is not OperationCanceledException and not OutOfMemoryException)
        {
            throw new InvalidDataException($"{path}: row group {group}, column '{field.Name}': corrupt or unreadable data ({ex.Message})", ex);
        }
    }

    private static async Task ReadPlaysAsync(ParquetRowGroupReader group, DataField field, double?[] result, CancellationToken ct)
    {
        var type = field.ClrType;
        if (type == typeof(int)) await ReadAsDouble<int>(group, field, result, v => v, ct);
        else if (type == typeof(long)) await ReadAsDouble<long>(group, field, result, v => v, ct);
        else if (type == typeof(float)) await ReadAsDouble<float>(group, field, result, v => v, ct);
        else await ReadAsDouble<double>(group, field, result, v => v, ct);
    }

    private static async Task ReadAsDouble<T>(ParquetRowGroupReader group, DataField field, double?[] result, Func<T, double> convert, CancellationToken ct)
        where T : struct
    {
        if (field.IsNullable)
        {
            var values = new T?[result.Length];
            await group.ReadAsync(field, values.AsMemory(), null, ct);
            for (var i = 0; i < values.Length; i++) result[i] = values[i] is { } v ? convert(v) : null;
        }
        else
        {
            var values = new T[result.Length];
            await group.ReadAsync(field, values.AsMemory(), null, ct);
            for (var i = 0; i < values.Length; i++) result[i] = convert(values[i]);
        }
    }

    /// <summary>Writes rows as Parquet (tests use it to make input files): plays, or with <paramref name="layout"/>
    /// another layout's columns; <paramref name="times"/> (strings, or null for none) fill the layout's time column.</summary>
    public static async Task WriteAsync(string path, RowLayout layout, IReadOnlyList<string> keys, IReadOnlyList<string> items, ReadOnlyMemory<int>? values,
        IReadOnlyList<string?>? times = null, CancellationToken ct = default)
    {
        var keyField = new DataField<string>(layout.KeyColumn);
        var itemField = new DataField<string>(layout.ItemColumn);
        var valueField = new DataField<int>(layout.ValueColumn);
        var timeField = new DataField<string>(layout.TimeColumn ?? TimestampColumn);
        var schema = new ParquetSchema([keyField, itemField, .. values is null ? Array.Empty<Field>() : [valueField], .. times is null ? Array.Empty<Field>() : [timeField]]);
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: ct);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync(keyField, keys.ToArray(), null);
        await group.WriteAsync(itemField, items.ToArray(), null);
        if (values is { } v) await group.WriteAsync(valueField, v, null, null, ct);
        if (times is not null) await group.WriteAsync(timeField, times.ToArray(), null);
    }

    /// <summary>Writes rows as Parquet (tests use it to make input files).</summary>
    public static async Task WriteAsync(string path, IReadOnlyList<string> users, IReadOnlyList<string> tracks, ReadOnlyMemory<int> plays, CancellationToken ct = default)
    {
        var userField = new DataField<string>(UserColumn);
        var trackField = new DataField<string>(TrackColumn);
        var playsField = new DataField<int>(PlaysColumn);
        var schema = new ParquetSchema(userField, trackField, playsField);
        await using var stream = File.Create(path);
        await using var writer = await ParquetWriter.CreateAsync(schema, stream, cancellationToken: ct);
        using var group = writer.CreateRowGroup();
        await group.WriteAsync(userField, users.ToArray(), null);
        await group.WriteAsync(trackField, tracks.ToArray(), null);
        await group.WriteAsync(playsField, plays, null, null, ct);
    }
}
