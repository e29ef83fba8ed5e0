namespace RecService.Ingest.Logs;

/// <summary>Why a row was not kept; readers report these through <see cref="IPlaySink.BadRow"/>.</summary>
public enum BadRowReason
{
    /// <summary>No user or no track (an empty field, or a line without the tab).</summary>
    MissingField,
    /// <summary>Plays is not a number, negative or infinite.</summary>
    BadPlays,
    /// <summary>A catalog was given and the track is not in it.</summary>
    UnknownTrack,
    /// <summary>An id longer than <see cref="PlayAggregator.MaxIdLength"/> characters.</summary>
    IdTooLong,
    /// <summary>The reader could not decode the row at all (the detail says how).</summary>
    Unreadable,
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
    private readonly Lock _lock = new();

    public long RowsRead { get; private set; }
    public long RowsKept { get; private set; }
    public long RowsSkipped { get; private set; }
    public long PlaysKept { get; private set; }
    public long BadRows => _badByReason.Sum();
    public IReadOnlyList<string> Examples => _examples;
    public IReadOnlyList<string> Files => _files;
    public long BadRowsFor(BadRowReason reason) => _badByReason[(int)reason];
    public double BadFraction => RowsRead == 0 ? 0 : (double)BadRows / RowsRead;

    internal void FileStarted(string path)
    {
        lock (_lock) _files.Add(path);
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
            lock (_lock) _examples.Add($"{file}:{line}: {Describe(reason)}{(detail.Length > 0 ? ": " + detail : "")}");
        }
    }

    private static string Describe(BadRowReason reason) => reason switch
    {
        BadRowReason.MissingField => "missing field (expected user_id<TAB>track_id[<TAB>plays])",
        BadRowReason.BadPlays => "plays is not a non-negative number",
        BadRowReason.UnknownTrack => "track not in the catalog",
        BadRowReason.IdTooLong => $"id longer than {PlayAggregator.MaxIdLength} characters",
        BadRowReason.Unreadable => "row could not be read",
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
        return $"{Files.Count} files, {RowsRead} rows read, {RowsKept} kept, {PlaysKept} plays, {bad}";
    }
}
