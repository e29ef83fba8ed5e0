using RecService.Core.Files;
using RecService.Ingest.Files;

namespace RecService.Ingest.Logs;

/// <summary>Reads one play file into a sink. A new input format is a class implementing this plus a line in <see cref="PlayLogFormats.Default"/>.</summary>
public interface IPlayLogReader
{
    Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default);
}

/// <summary>Files whose name ends with <see cref="Extension"/> (case-insensitive, with its dot) are read by <see cref="Reader"/>.</summary>
public sealed record PlayLogFormat(string Extension, IPlayLogReader Reader);

/// <summary>
/// The input formats, by file extension: which files snapshot discovery picks up and which reader reads each.
/// <see cref="Default"/> is the one list the service uses; <see cref="With"/> adds a reader defined elsewhere.
/// </summary>
public sealed class PlayLogFormats
{
    public static PlayLogFormats Default { get; } = new(
        [
            new(".tsv", TsvPlayLogReader.Plain),
            new(".tsv.gz", TsvPlayLogReader.Gzip),
            new(".parquet", new ParquetPlayLogReader()),
        ],
        otherFiles: TsvPlayLogReader.Plain);

    private readonly PlayLogFormat[] _formats;
    private readonly PlayLogFormat[] _longestFirst;
    private readonly IPlayLogReader? _otherFiles;

    /// <param name="otherFiles">Reads a file named directly (<see cref="ReadAsync"/>) whose extension is not listed,
    /// as <c>rec eval</c> takes interactions files of any name; discovery never picks such files up. Null refuses them.</param>
    public PlayLogFormats(IReadOnlyList<PlayLogFormat> formats, IPlayLogReader? otherFiles = null)
    {
        if (formats.Count == 0) throw new ArgumentException("At least one format is needed.", nameof(formats));
        foreach (var f in formats)
        {
            if (f.Extension.Length < 2 || f.Extension[0] != '.') throw new ArgumentException($"Extension '{f.Extension}' must start with a dot.", nameof(formats));
        }
        var duplicate = formats.GroupBy(f => f.Extension, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null) throw new ArgumentException($"Extension '{duplicate.Key}' is listed twice.", nameof(formats));
        _formats = [.. formats];
        // Longest first, so ".tsv.gz" wins over a ".gz" should both be listed.
        _longestFirst = [.. formats.OrderByDescending(f => f.Extension.Length)];
        _otherFiles = otherFiles;
    }

    public IReadOnlyList<PlayLogFormat> Formats => _formats;

    /// <summary>These formats plus <paramref name="format"/>.</summary>
    public PlayLogFormats With(PlayLogFormat format) => new([.. _formats, format], _otherFiles);

    /// <summary>The reader for <paramref name="path"/> by its extension, or null when no format lists it.</summary>
    public IPlayLogReader? ReaderFor(string path)
    {
        foreach (var f in _longestFirst)
        {
            if (path.EndsWith(f.Extension, StringComparison.OrdinalIgnoreCase)) return f.Reader;
        }
        return null;
    }

    public bool IsPlayFile(string path) => ReaderFor(path) is not null;

    /// <summary>The extensions for messages: <c>.tsv, .tsv.gz or .parquet</c>.</summary>
    public string Describe() =>
        _formats.Length == 1 ? _formats[0].Extension : $"{string.Join(", ", _formats[..^1].Select(f => f.Extension))} or {_formats[^1].Extension}";

    /// <summary>
    /// Reads one file by its extension (an unlisted one goes to the reader for other files, if any). Anything but a
    /// regular file (a FIFO, a device, a directory) is refused by name before it is opened.
    /// </summary>
    public async Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (FileKinds.NotRegular(path) is { } kind) throw new InvalidDataException($"{path}: not a regular file ({kind}); play logs must be regular files.");
        if (!File.Exists(path)) throw new FileNotFoundException($"Play log not found: {path}", path);
        var reader = ReaderFor(path) ?? _otherFiles
            ?? throw new InvalidDataException($"{path}: not a play log (expected a file ending {Describe()}).");
        await reader.ReadAsync(path, sink, cancellationToken);
    }
}
