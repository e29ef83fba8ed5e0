using System.Buffers;
using RecService.Core.Ids;
using RecService.Core.Sparse;
using RecService.Ingest.Catalog;
using RecService.Ingest.Playlists;

namespace RecService.Ingest.Logs;

/// <summary>
/// Sums plays per (user, track) as rows stream in, in memory bounded by the distinct pairs plus one buffer:
/// rows land in a fixed buffer of packed keys; a full buffer is sorted, merged and folded into the sorted run
/// of distinct pairs. With a catalog, track ids resolve against it and an unknown track is a bad row;
/// without one, tracks get indices as they appear. The sink ingest's readers feed (see <see cref="IPlaySink"/>).
/// Timestamped rows are also kept as (user, track, time) in flat arrays, 16 bytes a play (24 with recency weighting),
/// for the sessions; so those must fit in memory. With a recency half-life, each play is weighted by its age
/// (<see cref="PlayReadOptions.RecencyWeight"/>): a row without a time by its snapshot's age (<see cref="StartSnapshot"/>),
/// a timestamped one by its time's age from the newest time, known only at the end, so those are summed in <see cref="Build"/>.
/// </summary>
public sealed class PlayAggregator : IPlaySink
{
    /// <summary>
    /// Plays one row may carry; more is a bad row. A million plays of one track by one user is years of non-stop
    /// listening, so a larger value is a broken producer, and the bound keeps every sum finite in float (1e308
    /// becomes infinity in float and made training diverge).
    /// </summary>
    public const double MaxPlays = 1e6;

    private readonly TrackCatalog? _catalog;
    private readonly IdMap _users = new();
    private readonly IdMap _tracks;
    private readonly long[] _bufferKeys;
    private readonly float[] _bufferValues;
    private int _buffered;
    private long[] _runKeys = [];
    private float[] _runValues = [];
    private int _runLength;

    private readonly PlayReadOptions _options;
    private float _snapshotWeight = 1;
    private int[] _eventUsers = [];
    private int[] _eventTracks = [];
    private long[] _eventTimes = [];
    private float[] _eventPlays = []; // only with recency: weighted in Build
    private int _events;
    private bool _eventsSummed; // with recency, once Build has added the timestamped plays

    public PlayAggregator(TrackCatalog? catalog = null, int bufferRows = 1 << 21) : this(catalog, null, bufferRows) { }

    public PlayAggregator(TrackCatalog? catalog, PlayReadOptions? options, int bufferRows = 1 << 21)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferRows, 16);
        _options = options ?? new PlayReadOptions();
        _options.Validate();
        _catalog = catalog;
        _tracks = catalog?.Tracks ?? new IdMap();
        _bufferKeys = new long[bufferRows];
        _bufferValues = new float[bufferRows];
    }

    public IngestReport Report { get; } = new();
    public IdMap Users => _users;
    public IdMap Tracks => _tracks;

    /// <summary>Rows added from now on (those without a time) come from a snapshot <paramref name="ageDays"/> older than
    /// the newest: with a recency half-life they are weighted so.</summary>
    public void StartSnapshot(double ageDays) => _snapshotWeight = (float)_options.RecencyWeight(ageDays);

    /// <summary>Adds one row; <paramref name="file"/> and <paramref name="line"/> only label a bad row.</summary>
    public void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double plays, string file, long line) =>
        Add(user, track, plays, null, file, line);

    /// <summary>Adds one row as the readers give it: absent plays count 1; a row with a time is also a play of the sessions.</summary>
    public void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double? value, long? unixSeconds, string file, long line)
    {
        var plays = value ?? 1;
        if (user.IsEmpty || track.IsEmpty)
        {
            Report.Bad(BadRowReason.MissingField, file, line, "");
            return;
        }
        // An id already in a map passed these checks when it entered: only new ids are checked, so a row of known ids
        // costs its lookups and nothing more.
        var knownUser = _users.TryGet(user, out var u);
        if (!knownUser && !Report.CheckId(user, file, line)) return;
        int t;
        var knownTrack = _tracks.TryGet(track, out t);
        if (!knownTrack && _catalog is null && !Report.CheckId(track, file, line)) return;
        if (!(plays >= 0 && plays <= MaxPlays))
        {
            Report.Bad(BadRowReason.BadPlays, file, line, plays.ToString(System.Globalization.CultureInfo.InvariantCulture));
            return;
        }
        if (!knownTrack)
        {
            if (_catalog is not null)
            {
                Report.Bad(BadRowReason.UnknownTrack, file, line, track.ToString());
                return;
            }
            t = _tracks.GetOrAdd(track);
        }
        if (plays == 0)
        {
            Report.Skipped();
            return;
        }
        if (!knownUser) u = _users.GetOrAdd(user);
        Report.Kept(plays);
        if (unixSeconds is { } time)
        {
            AddEvent(u, t, time, (float)plays);
            if (_options.RecencyHalfLifeDays > 0) return; // summed in Build, once the newest time is known
            Buffer(u, t, (float)plays);
        }
        else Buffer(u, t, (float)(plays * _snapshotWeight));
    }

    private void Buffer(int user, int track, float plays)
    {
        if (_buffered == _bufferKeys.Length) Compact();
        _bufferKeys[_buffered] = PairKeys.Pack(user, track);
        _bufferValues[_buffered] = plays;
        _buffered++;
    }

    private void AddEvent(int user, int track, long time, float plays)
    {
        if (_events == _eventUsers.Length)
        {
            var capacity = Math.Max(1024, _events * 2);
            Array.Resize(ref _eventUsers, capacity);
            Array.Resize(ref _eventTracks, capacity);
            Array.Resize(ref _eventTimes, capacity);
            if (_options.RecencyHalfLifeDays > 0) Array.Resize(ref _eventPlays, capacity);
        }
        _eventUsers[_events] = user;
        _eventTracks[_events] = track;
        _eventTimes[_events] = time;
        if (_options.RecencyHalfLifeDays > 0) _eventPlays[_events] = plays;
        _events++;
    }

    public void BadRow(BadRowReason reason, string file, long line, string detail) => Report.Bad(reason, file, line, detail);

    public void FileStarted(string path) => Report.FileStarted(path);

    /// <summary>Sorts and sums the buffer, then merges it into the run of distinct pairs.</summary>
    private void Compact()
    {
        if (_buffered == 0) return;
        Array.Sort(_bufferKeys, _bufferValues, 0, _buffered);
        var n = PairKeys.MergeSorted(_bufferKeys.AsSpan(0, _buffered), _bufferValues.AsSpan(0, _buffered));
        _buffered = 0;
        var keys = new long[_runLength + n];
        var values = new float[_runLength + n];
        int i = 0, j = 0, w = 0;
        while (i < _runLength && j < n)
        {
            var a = _runKeys[i];
            var b = _bufferKeys[j];
            if (a < b) { keys[w] = a; values[w++] = _runValues[i++]; }
            else if (b < a) { keys[w] = b; values[w++] = _bufferValues[j++]; }
            else { keys[w] = a; values[w++] = _runValues[i++] + _bufferValues[j++]; }
        }
        while (i < _runLength) { keys[w] = _runKeys[i]; values[w++] = _runValues[i++]; }
        while (j < n) { keys[w] = _bufferKeys[j]; values[w++] = _bufferValues[j++]; }
        _runKeys = keys;
        _runValues = values;
        _runLength = w;
    }

    /// <summary>The aggregated matrices: users x tracks always, users x artists when a catalog gives each track's artist.</summary>
    public PlayMatrices Build()
    {
        if (_options.RecencyHalfLifeDays > 0 && _events > 0 && !_eventsSummed)
        {
            var newest = long.MinValue;
            for (var i = 0; i < _events; i++) newest = Math.Max(newest, _eventTimes[i]);
            for (var i = 0; i < _events; i++)
                Buffer(_eventUsers[i], _eventTracks[i], (float)(_eventPlays[i] * _options.RecencyWeight((newest - _eventTimes[i]) / 86_400.0)));
            _eventsSummed = true;
        }
        Compact();
        var userTrack = CsrMatrix.FromSortedKeys(_users.Count, _tracks.Count, _runKeys.AsSpan(0, _runLength), _runValues.AsSpan(0, _runLength));
        var userArtist = _catalog is null ? null : ToArtists(userTrack, _catalog);
        var sessions = _events == 0 ? null : Sessions.Cut(_users.Count, _eventUsers, _eventTracks, _eventTimes, _events, _options.SessionGap);
        return new PlayMatrices(_users, _tracks, _catalog, userTrack, userArtist, Report) { Sessions = sessions };
    }

    /// <summary>Folds each row's tracks onto their artists: sums per (user, artist), columns ascending.</summary>
    public static CsrMatrix ToArtists(CsrMatrix userTrack, TrackCatalog catalog)
    {
        var trackArtist = catalog.TrackArtists;
        var pointers = new int[userTrack.Rows + 1];
        var indices = new List<int>(userTrack.NonZeros / 2);
        var values = new List<float>(userTrack.NonZeros / 2);
        var rowArtists = new int[16];
        var rowPlays = new float[16];
        for (var r = 0; r < userTrack.Rows; r++)
        {
            var cols = userTrack.RowIndices(r);
            var vals = userTrack.RowValues(r);
            if (rowArtists.Length < cols.Length)
            {
                rowArtists = new int[cols.Length * 2];
                rowPlays = new float[cols.Length * 2];
            }
            for (var k = 0; k < cols.Length; k++)
            {
                rowArtists[k] = trackArtist[cols[k]];
                rowPlays[k] = vals[k];
            }
            Array.Sort(rowArtists, rowPlays, 0, cols.Length);
            for (var k = 0; k < cols.Length; k++)
            {
                if (k > 0 && rowArtists[k] == rowArtists[k - 1]) values[^1] += rowPlays[k];
                else
                {
                    indices.Add(rowArtists[k]);
                    values.Add(rowPlays[k]);
                }
            }
            pointers[r + 1] = indices.Count;
        }
        return new CsrMatrix(userTrack.Rows, catalog.ArtistCount, pointers, [.. indices], [.. values]);
    }
}

/// <summary>The output of ingest: id maps and the two play matrices ALS trains on, the listening sessions when rows
/// had times, and the playlists beside the snapshots when read (<see cref="PlaylistSet.ReadAsync"/>).</summary>
public sealed record PlayMatrices(
    IdMap Users,
    IdMap Tracks,
    TrackCatalog? Catalog,
    CsrMatrix UserTrack,
    CsrMatrix? UserArtist,
    IngestReport Report)
{
    /// <summary>The timestamped plays cut into sessions; null when no row had a time.</summary>
    public Sessions? Sessions { get; init; }

    /// <summary>The playlists read beside the snapshots, against the same catalog; null when not read.</summary>
    public PlaylistSet? Playlists { get; init; }
}
