using Parquet;
using Parquet.Schema;

namespace RecService.Ingest.Logs;

/// <summary>
/// Reads Parquet play logs with columns <c>user_id</c> and <c>track_id</c> (strings) and an optional numeric
/// <c>plays</c> (int32, int64, float or double; null or absent means 1). Bad rows are labelled by row number.
/// </summary>
public sealed class ParquetPlayLogReader : IPlayLogReader
{
    public const string UserColumn = "user_id";
    public const string TrackColumn = "track_id";
    public const string PlaysColumn = "plays";

    public async Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
    {
        sink.FileStarted(path);
        await using var stream = File.OpenRead(path);
        ParquetReader reader;
        try
        {
            reader = await ParquetReader.CreateAsync(stream, cancellationToken: cancellationToken);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            throw new InvalidDataException($"{path}: not a readable Parquet file: {ex.Message}", ex);
        }
        await using (reader)
        {
            var fields = reader.Schema.GetDataFields();
            var userField = Find(fields, UserColumn, path, required: true)!;
            var trackField = Find(fields, TrackColumn, path, required: true)!;
            var playsField = Find(fields, PlaysColumn, path, required: false);
            long rowBase = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                using var group = reader.OpenRowGroupReader(g);
                var n = checked((int)group.RowCount);
                var users = new string?[n];
                var tracks = new string?[n];
                await group.ReadAsync(userField, users.AsMemory(), null, cancellationToken);
                await group.ReadAsync(trackField, tracks.AsMemory(), null, cancellationToken);
                var plays = playsField is null ? null : await ReadPlaysAsync(group, playsField, n, path, cancellationToken);
                for (var i = 0; i < n; i++)
                {
                    sink.Add(users[i] ?? "", tracks[i] ?? "", plays?[i] ?? 1.0, path, rowBase + i + 1);
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

    private static async Task<double?[]> ReadPlaysAsync(ParquetRowGroupReader group, DataField field, int n, string path, CancellationToken ct)
    {
        var result = new double?[n];
        var type = field.ClrType;
        if (type == typeof(int)) await ReadAsDouble<int>(group, field, result, v => v, ct);
        else if (type == typeof(long)) await ReadAsDouble<long>(group, field, result, v => v, ct);
        else if (type == typeof(float)) await ReadAsDouble<float>(group, field, result, v => v, ct);
        else if (type == typeof(double)) await ReadAsDouble<double>(group, field, result, v => v, ct);
        else throw new InvalidDataException($"{path}: column '{PlaysColumn}' has type {type.Name}; expected int32, int64, float or double.");
        return result;
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
