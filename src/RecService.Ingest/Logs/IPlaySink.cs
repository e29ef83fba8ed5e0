namespace RecService.Ingest.Logs;

/// <summary>
/// What a play-log reader feeds. A reader calls <see cref="FileStarted"/> once per file, <see cref="Add"/> for
/// every row it can split into (user, track, plays), and <see cref="BadRow"/> for a row it cannot. The sink
/// itself checks what <see cref="Add"/> gets (empty or too-long ids, ids with control characters, plays outside 0 to
/// <see cref="PlayAggregator.MaxPlays"/>, tracks not in the catalog)
/// and counts those rows as bad, so a reader reports only what it alone sees (a missing field, a number that
/// does not parse). The file and line given label a bad row in the report as <c>file:line: reason</c>: pass
/// the file's path and a 1-based line or row number. <see cref="PlayAggregator"/> is the sink ingest uses.
/// </summary>
public interface IPlaySink
{
    /// <summary>A reader starts on <paramref name="path"/>; the report lists the files read.</summary>
    void FileStarted(string path);

    /// <summary>One row; the sink may still count it bad (see the type's summary).</summary>
    void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double plays, string file, long line);

    /// <summary>
    /// One row as the readers give it, with what its optional columns held: <paramref name="value"/> (plays, or a
    /// playlist's position) null when absent, <paramref name="unixSeconds"/> the play's time, null when the row has none.
    /// A sink that needs neither keeps the default: absent plays count 1, the time is dropped.
    /// </summary>
    void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double? value, long? unixSeconds, string file, long line) =>
        Add(user, track, value ?? 1, file, line);

    /// <summary>A row the reader could not turn into (user, track, plays); a non-empty <paramref name="detail"/> follows the reason in the report.</summary>
    void BadRow(BadRowReason reason, string file, long line, string detail);
}
