using RecService.Core.Files;
using RecService.Core.Ids;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;

namespace RecService.Ingest.Playlists;

/// <summary>
/// Playlists from a directory of <c>playlist_id&lt;TAB&gt;track_id[&lt;TAB&gt;position]</c> files (<see cref="Formats"/>:
/// TSV, TSV.gz, Parquet), read with the play logs' readers and bad-row rules. Playlist <c>i</c> is
/// <c>PlaylistIds[i]</c> with the catalog's track indices <c>Tracks[Offsets[i]..Offsets[i + 1]]</c>, ordered by
/// position (ties, and rows without one, in the order read: files by name, rows by line). Rows of one playlist id make
/// one playlist, across rows and files.
/// </summary>
public sealed class PlaylistSet
{
    /// <summary>The largest position read; a larger, negative or fractional one is a bad row.</summary>
    public const int MaxPosition = int.MaxValue;

    /// <summary>Which files of the directory are read, and by which reader.</summary>
    public static PlayLogFormats Formats { get; } = new(
    [
        new(".tsv", TsvPlayLogReader.PlaylistsPlain),
        new(".tsv.gz", TsvPlayLogReader.PlaylistsGzip),
        new(".parquet", new ParquetPlayLogReader(RowLayout.Playlists)),
    ]);

    private PlaylistSet(IReadOnlyList<string> ids, long[] offsets, int[] tracks, IngestReport report)
    {
        PlaylistIds = ids;
        Offsets = offsets;
        Tracks = tracks;
        Report = report;
    }

    public IReadOnlyList<string> PlaylistIds { get; }
    /// <summary><see cref="Count"/> + 1 entries, from 0 to the number of tracks over all playlists.</summary>
    public long[] Offsets { get; }
    public int[] Tracks { get; }
    public IngestReport Report { get; }
    public int Count => PlaylistIds.Count;
    public ReadOnlySpan<int> this[int playlist] => Tracks.AsSpan((int)Offsets[playlist], (int)(Offsets[playlist + 1] - Offsets[playlist]));

    /// <summary>One line for logs: playlists, tracks and the read's summary.</summary>
    public string Summary() => $"{Count} playlists, {Tracks.Length} tracks ({Report.Summary()})";

    /// <summary>
    /// Reads every playlist file in <paramref name="directory"/> (not its subdirectories) against <paramref name="catalog"/>:
    /// a track not in it is a bad row. A missing directory is an empty set. A FIFO, device or socket named like a playlist
    /// file is skipped with a warning, never opened; a file that cannot be read fails naming it, and so does a bad
    /// fraction over <paramref name="maxBadFraction"/>.
    /// </summary>
    public static async Task<PlaylistSet> ReadAsync(string directory, TrackCatalog catalog, double maxBadFraction = PlayReadOptions.DefaultMaxBadFraction,
        CancellationToken ct = default)
    {
        var rows = new PlaylistRows(catalog);
        if (Directory.Exists(directory))
        {
            foreach (var file in Directory.EnumerateFiles(directory).Where(Formats.IsPlayFile).Order(StringComparer.Ordinal))
            {
                ct.ThrowIfCancellationRequested();
                if (FileKinds.NotRegular(file) is { } kind) rows.Report.Warn($"{file}: skipped, {kind} is not a regular file");
                else await Formats.ReaderFor(file)!.ReadAsync(file, rows, ct);
            }
        }
        rows.Report.ThrowIfTooManyBad(maxBadFraction);
        return rows.Build();
    }

    /// <summary>The sink the readers feed: checks each row and keeps (playlist, track, position) in flat arrays.</summary>
    private sealed class PlaylistRows(TrackCatalog catalog) : IPlaySink
    {
        private readonly IdMap _playlists = new();
        private readonly List<int> _rowsOf = []; // rows kept per playlist: a row without a position is placed by it
        private int[] _playlist = [];
        private int[] _track = [];
        private long[] _position = [];
        private int _count;

        public IngestReport Report { get; } = new(RowLayout.Playlists);

        public void FileStarted(string path) => Report.FileStarted(path);

        public void BadRow(BadRowReason reason, string file, long line, string detail) => Report.Bad(reason, file, line, detail);

        public void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double plays, string file, long line) => Add(user, track, plays, null, file, line);

        public void Add(ReadOnlySpan<char> playlistId, ReadOnlySpan<char> trackId, double? position, long? unixSeconds, string file, long line)
        {
            if (playlistId.IsEmpty || trackId.IsEmpty)
            {
                Report.Bad(BadRowReason.MissingField, file, line, "");
                return;
            }
            var known = _playlists.TryGet(playlistId, out var p);
            if (!known && !Report.CheckId(playlistId, file, line)) return;
            if (position is { } v && !(v >= 0 && v <= MaxPosition && v == Math.Floor(v)))
            {
                Report.Bad(BadRowReason.BadPlays, file, line, v.ToString(System.Globalization.CultureInfo.InvariantCulture));
                return;
            }
            if (!catalog.Tracks.TryGet(trackId, out var t))
            {
                Report.Bad(BadRowReason.UnknownTrack, file, line, trackId.ToString());
                return;
            }
            if (!known)
            {
                p = _playlists.GetOrAdd(playlistId);
                _rowsOf.Add(0);
            }
            if (_count == _playlist.Length)
            {
                var capacity = Math.Max(1024, _count * 2);
                Array.Resize(ref _playlist, capacity);
                Array.Resize(ref _track, capacity);
                Array.Resize(ref _position, capacity);
            }
            _playlist[_count] = p;
            _track[_count] = t;
            _position[_count] = position is { } given ? (long)given : _rowsOf[p];
            _rowsOf[p]++;
            _count++;
            Report.Kept();
        }

        public PlaylistSet Build()
        {
            var (starts, order) = GroupedOrder.Sort(_playlists.Count, _playlist, _position, _count);
            var tracks = new int[_count];
            for (var k = 0; k < _count; k++) tracks[k] = _track[order[k]];
            return new PlaylistSet(_playlists.Ids, starts, tracks, Report);
        }
    }
}
