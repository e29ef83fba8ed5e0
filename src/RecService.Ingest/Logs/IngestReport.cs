using RecService.Core.Text;
using RecService.Core.Ids;
namespace RecService.Ingest.Logs;

/// <summary>Why a row was not kept; readers report these through <see cref="IPlaySink.BadRow"/>.</summary>
public enum BadRowReason
{
    /// <summary>No user or no track (an empty field, or a line without the tab).</summary>
    MissingField,
    /// <summary>The third column is not a number, or out of its range: plays not between 0 and <see cref="PlayAggregator.MaxPlays"/>
    /// (negative, infinite, absurd), a playlist position not a whole number from 0 to <see cref="RecService.Ingest.Playlists.PlaylistSet.MaxPosition"/>.</summary>
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
    /// <summary>A play's time that is neither unix seconds nor ISO 8601 with a zone, or before 1970 or after 9999 (<see cref="PlayTimestamps"/>).</summary>
    BadTimestamp,
}

/// <summary>
/// What reading a set of logs found: rows read and kept, bad rows by reason, and where the first few were
/// (file and line), so an operator can fix the source instead of guessing. The <see cref="RowLayout"/> (plays by
/// default) words the reasons.
/// </summary>
public sealed class IngestReport(RowLayout? layout = null)
{
    /// <summary>How many bad rows are kept with file and line: enough to diagnose, bounded so a bad feed can't fill memory.</summary>
    public const int MaxExamples = 10;

    private readonly long[] _badByReason = new long[Enum.GetValues<BadRowReason>().Length];
    private readonly List<string> _examples = [];
    private readonly List<string> _files = [];
    private readonly List<long[]> _fileStarts = [];
    private readonly List<string> _warnings = [];
    private readonly Lock _lock = new();

    public RowLayout Layout { get; } = layout ?? RowLayout.Plays;
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

    /// <summary>A row of this layout read and kept whose value is not a play count (a playlist row).</summary>
    internal void Kept()
    {
        RowsRead++;
        RowsKept++;
    }

    /// <summary>An id the model may hold: at most <see cref="IdLimits.MaxUtf8Bytes"/> and free of control characters
    /// (which cannot round-trip through TSV or the bundle's id files); otherwise counted as a bad row.</summary>
    internal bool CheckId(ReadOnlySpan<char> id, string file, long line)
    {
        if (!IdLimits.Fits(id)) Bad(BadRowReason.IdTooLong, file, line, "");
        else if (ControlCharacters.Any(id)) Bad(BadRowReason.ControlCharacter, file, line, "");
        else return true;
        return false;
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

    private string Describe(BadRowReason reason) => reason switch
    {
        BadRowReason.MissingField => $"missing field (expected {Layout.Shape})",
        BadRowReason.BadPlays => Layout.ValueRule,
        BadRowReason.UnknownTrack => "track not in the catalog",
        BadRowReason.IdTooLong => $"id longer than {IdLimits.MaxUtf8Bytes} UTF-8 bytes",
        BadRowReason.Unreadable => "row could not be read",
        BadRowReason.LineTooLong => $"line longer than {TsvPlayLogReader.MaxLineBytes} bytes (skipped to its end)",
        BadRowReason.InvalidUtf8 => "id is not valid UTF-8",
        BadRowReason.ControlCharacter => "id holds a control character (tab, CR, LF or another)",
        BadRowReason.BadTimestamp => $"{Layout.TimeColumn} is neither unix seconds nor ISO 8601 with a zone (Z or an offset), from 1970 to 9999",
        _ => reason.ToString(),
    };

    /// <summary>Fails the run when more than <paramref name="maxBadFraction"/> of the rows were bad; fewer are only reported.</summary>
    public void ThrowIfTooManyBad(double maxBadFraction)
    {
        if (BadRows > 0 && BadFraction > maxBadFraction)
        {
            throw new InvalidDataException(
                $"{BadRows} of {RowsRead} rows{(Layout == RowLayout.Plays ? "" : " of " + Layout.Rows)} are bad ({BadFraction:P2}, limit {maxBadFraction:P2}). First: {string.Join("; ", _examples)}");
        }
    }

    public string Summary()
    {
        var parts = Enum.GetValues<BadRowReason>().Where(r => BadRowsFor(r) > 0).Select(r => $"{r}={BadRowsFor(r)}");
        var bad = BadRows == 0 ? "no bad rows" : $"{BadRows} bad rows ({string.Join(", ", parts)})";
        var skipped = Warnings.Count == 0 ? "" : $", {Warnings.Count} files skipped (see warnings)";
        var plays = Layout == RowLayout.Plays ? $", {PlaysKept} plays" : "";
        return $"{Files.Count} files, {RowsRead} rows read, {RowsKept} kept{plays}, {bad}{skipped}";
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
