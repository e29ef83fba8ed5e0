using Parquet;
using Parquet.Schema;
using RecService.Ingest.Files;

namespace RecService.Ingest.Logs;

/// <summary>
/// Reads Parquet play logs with columns <c>user_id</c> and <c>track_id</c> (strings) and an optional numeric
/// <c>plays</c> (int32, int64, float or double; null or absent means 1). Bad rows are labelled by row number; a file
/// whose metadata or pages cannot be decoded fails naming the file, the row group and the column. Cancellation returns
/// at once, even while the library waits on a read (the sink may still get the rows of the group being added).
/// </summary>
public sealed class ParquetPlayLogReader : IPlayLogReader
{
    public const string UserColumn = "user_id";
    public const string TrackColumn = "track_id";
    public const string PlaysColumn = "plays";

    /// <summary>Rows one row group may hold: a group is read whole, so its size bounds memory (write smaller groups).</summary>
    public const long MaxRowGroupRows = 1 << 25;

    private const string NumberTypes = "int32, int64, float or double";

    public async Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
    {
        await using var stream = InputFiles.OpenRead(path);
        sink.FileStarted(path);
        try
        {
            await AbandonableReads.WaitAsync(ReadAsync(stream, path, sink, cancellationToken), cancellationToken);
        }
        catch (Exception ex) when (ex is not (InvalidDataException or OperationCanceledException or OutOfMemoryException))
        {
            // The library's own errors (a corrupt footer or schema) say what but not where.
            throw new InvalidDataException($"{path}: not a readable Parquet file: {ex.Message}", ex);
        }
    }

    private static async Task ReadAsync(Stream stream, string path, IPlaySink sink, CancellationToken cancellationToken)
    {
        await using var reader = await ParquetReader.CreateAsync(stream, cancellationToken: cancellationToken);
        {
            var fields = reader.Schema.GetDataFields();
            var userField = Find(fields, UserColumn, path, required: true)!;
            var trackField = Find(fields, TrackColumn, path, required: true)!;
            var playsField = Find(fields, PlaysColumn, path, required: false);
            RequireStrings(userField, path);
            RequireStrings(trackField, path);
            if (playsField is not null && !IsNumber(playsField.ClrType))
                throw new InvalidDataException($"{path}: column '{PlaysColumn}' holds {Describe(playsField.ClrType)}; expected numbers ({NumberTypes}).");
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
                for (var i = 0; i < n; i++)
                {
                    var user = users[i] ?? "";
                    var track = tracks[i] ?? "";
                    // The library decodes strings itself, putting U+FFFD where the bytes were not UTF-8.
                    if (user.Contains('\uFFFD') || track.Contains('\uFFFD')) sink.BadRow(BadRowReason.InvalidUtf8, path, rowBase + i + 1, "");
                    else sink.Add(user, track, plays?[i] ?? 1.0, path, rowBase + i + 1);
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
