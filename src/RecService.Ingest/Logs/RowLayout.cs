namespace RecService.Ingest.Logs;

/// <summary>
/// The columns of a log the TSV and Parquet readers read: two ids, an optional number and, for plays, an optional time.
/// <see cref="Plays"/> is <c>user_id, track_id[, plays[, timestamp]]</c>, <see cref="Playlists"/> is
/// <c>playlist_id, track_id[, position]</c>. Names the header a TSV file may start with, the Parquet columns and the
/// words of the report's reasons, so one reader serves both.
/// </summary>
public sealed record RowLayout(string Rows, string KeyColumn, string ItemColumn, string ValueColumn, string? TimeColumn, string ValueRule)
{
    public static RowLayout Plays { get; } = new("plays", ParquetPlayLogReader.UserColumn, ParquetPlayLogReader.TrackColumn,
        ParquetPlayLogReader.PlaysColumn, ParquetPlayLogReader.TimestampColumn,
        $"plays is not a number from 0 to {PlayAggregator.MaxPlays:G}");

    public static RowLayout Playlists { get; } = new("playlists", "playlist_id", "track_id", "position", null,
        $"position is not a whole number from 0 to {RecService.Ingest.Playlists.PlaylistSet.MaxPosition}");

    /// <summary>The header line's start, with its tab: a first line starting so is skipped. Built when asked (only for a
    /// file's first line), so the layout's equality is that of its names.</summary>
    internal byte[] HeaderPrefix => System.Text.Encoding.UTF8.GetBytes(KeyColumn + "\t");

    /// <summary>The row's shape for a missing-field message: <c>user_id&lt;TAB&gt;track_id[&lt;TAB&gt;plays[&lt;TAB&gt;timestamp]]</c>.</summary>
    public string Shape => TimeColumn is null
        ? $"{KeyColumn}<TAB>{ItemColumn}[<TAB>{ValueColumn}]"
        : $"{KeyColumn}<TAB>{ItemColumn}[<TAB>{ValueColumn}[<TAB>{TimeColumn}]]";
}
