using RecService.Core.Text;
using RecService.Core.Ids;
namespace RecService.Ingest.Logs;

/// <summary>Why a row was not kept; readers report these through <see cref="IPlaySink.BadRow"/>.</summary>
public enum BadRowReason
{
    /// <summary>No user or no track (an empty field, or a line without the tab).</summary>
    MissingField,
    /// <summary>Plays is not a number, or not between 0 and <see cref="PlayAggregator.MaxPlays"/> (negative, infinite, absurd).</summary>
    BadPlays,
    /// <summary>A catalog was given and the track is not in it.</summary>
    UnknownTrack,
    /// <summary>An id longer than <see cref="IdLimits.MaxUtf8Bytes"/> UTF-8 bytes.</summary>
    IdTooLong,
    /// <summary>The reader could not decode the row at all (the detail says how).</summary>
    Unreadable,
    /// <summary>A line of <see cref="TsvPlayLogReader.MaxLineBytes"/> or more: skipped to its end, never buffered.</summary>
    LineTooLong,
    /// <summary>An id whose bytes are not UTF-8: kept, it would become a different id (U+FFFD) that no request can name.</summary>
    InvalidUtf8,
    /// <summary>An id holding a control character (tab, CR, LF, ESC...): it cannot round-trip through TSV or the bundle's id files.</summary>
    ControlCharacter,
}

/// <summary>
/// What reading a set of logs found: rows read and kept, bad rows by reason, and where the first few were
/// (file and line), so an operator can fix the source instead of guessing.
/// </summary>
public sealed class IngestReport
{
    /// <summary>How many bad rows are kept with file and line: enough to diagnose, bounded so a bad feed can't fill memory.</summary>
    public const int MaxExamples = 10;

    private readonly long[] _badByReason = new long[Enum.GetValues<BadRowReason>().Length];
    private readonly List<string> _examples = [];
    private readonly List<string> _files = [];
    private readonly List<long[]> _fileStarts = [];
    private readonly List<string> _warnings = [];
    private readonly Lock _lock = new();

    public long RowsRead { get; private set; }
    public long RowsKept { get; private set; }
    public long RowsSkipped { get; private set; }
    public long PlaysKept { get; private set; }
    public long BadRows => _badByReason.Sum();
    public IReadOnlyList<string> Examples => _examples;
    public IReadOnlyList<string> Files => _files;
    /// <summary>What was not read and why (a FIFO or device named like a play file): one line each.</summary>
    public IReadOnlyList<string> Warnings => _warnings;
    public long BadRowsFor(BadRowReason reason) => _badByReason[(int)reason];
    public double BadFraction => RowsRead == 0 ? 0 : (double)BadRows / RowsRead;

    internal void FileStarted(string path)
    {
        lock (_lock)
        {
            _files.Add(path);
            _fileStarts.Add([RowsRead, .. _badByReason]);
        }
    }

    internal void Warn(string warning)
    {
        lock (_lock) _warnings.Add(warning);
    }

    /// <summary>Rows read and bad rows by reason for each file, in the order read (counted from the totals at each file's start, so rows cost nothing more).</summary>
    public IReadOnlyList<FileTally> PerFile()
    {
        lock (_lock)
        {
            var tallies = new List<FileTally>(_files.Count);
            for (var f = 0; f < _files.Count; f++)
            {
                long[] end = f + 1 < _fileStarts.Count ? _fileStarts[f + 1] : [RowsRead, .. _badByReason];
                var start = _fileStarts[f];
                var bad = new long[_badByReason.Length];
                for (var r = 0; r < bad.Length; r++) bad[r] = end[r + 1] - start[r + 1];
                tallies.Add(new FileTally(_files[f], end[0] - start[0], bad));
            }
            return tallies;
        }
    }

    internal void Kept(double plays)
    {
        RowsRead++;
        RowsKept++;
        PlaysKept += (long)Math.Round(plays);
    }

    /// <summary>A well-formed row that carries nothing (zero plays).</summary>
    internal void Skipped()
    {
        RowsRead++;
        RowsSkipped++;
    }

    internal void Bad(BadRowReason reason, string file, long line, string detail)
    {
        RowsRead++;
        _badByReason[(int)reason]++;
        if (_examples.Count < MaxExamples)
        {
            lock (_lock) _examples.Add(ControlCharacters.Escape($"{file}:{line}: {Describe(reason)}{(detail.Length > 0 ? ": " + detail : "")}"));
        }
    }

    private static string Describe(BadRowReason reason) => reason switch
    {
        BadRowReason.MissingField => "missing field (expected user_id<TAB>track_id[<TAB>plays])",
        BadRowReason.BadPlays => $"plays is not a number from 0 to {PlayAggregator.MaxPlays:G}",
        BadRowReason.UnknownTrack => "track not in the catalog",
        BadRowReason.IdTooLong => $"id longer than {IdLimits.MaxUtf8Bytes} UTF-8 bytes",
        BadRowReason.Unreadable => "row could not be read",
        BadRowReason.LineTooLong => $"line longer than {TsvPlayLogReader.MaxLineBytes} bytes (skipped to its end)",
        BadRowReason.InvalidUtf8 => "id is not valid UTF-8",
        BadRowReason.ControlCharacter => "id holds a control character (tab, CR, LF or another)",
        _ => reason.ToString(),
    };

    /// <summary>Fails the run when more than <paramref name="maxBadFraction"/> of the rows were bad; fewer are only reported.</summary>
    public void ThrowIfTooManyBad(double maxBadFraction)
    {
        if (BadRows > 0 && BadFraction > maxBadFraction)
        {
            throw new InvalidDataException(
                $"{BadRows} of {RowsRead} rows are bad ({BadFraction:P2}, limit {maxBadFraction:P2}). First: {string.Join("; ", _examples)}");
        }
    }

    public string Summary()
    {
        var parts = Enum.GetValues<BadRowReason>().Where(r => BadRowsFor(r) > 0).Select(r => $"{r}={BadRowsFor(r)}");
        var bad = BadRows == 0 ? "no bad rows" : $"{BadRows} bad rows ({string.Join(", ", parts)})";
        var skipped = Warnings.Count == 0 ? "" : $", {Warnings.Count} files skipped (see warnings)";
        return $"{Files.Count} files, {RowsRead} rows read, {RowsKept} kept, {PlaysKept} plays, {bad}{skipped}";
    }

    /// <summary>One line per file that had bad rows (at most <see cref="MaxExamples"/>), with its counts by reason.</summary>
    public IEnumerable<string> FilesWithBadRows() =>
        PerFile().Where(f => f.BadRows > 0).Take(MaxExamples).Select(f => f.ToString());
}

/// <summary>What one file gave: rows read and bad rows by reason.</summary>
public sealed class FileTally(string path, long rowsRead, long[] badByReason)
{
    public string Path { get; } = path;
    public long RowsRead { get; } = rowsRead;
    public long BadRows => badByReason.Sum();
    public long BadRowsFor(BadRowReason reason) => badByReason[(int)reason];

    public override string ToString()
    {
        var parts = Enum.GetValues<BadRowReason>().Where(r => BadRowsFor(r) > 0).Select(r => $"{r}={BadRowsFor(r)}");
        return $"{Path}: {RowsRead} rows, {BadRows} bad ({string.Join(", ", parts)})";
    }
}
