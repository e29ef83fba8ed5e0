using RecService.Core.Text;
using System.Buffers;
using RecService.Core.Ids;
using RecService.Core.Sparse;
using RecService.Ingest.Catalog;

namespace RecService.Ingest.Logs;

/// <summary>
/// Sums plays per (user, track) as rows stream in, in memory bounded by the distinct pairs plus one buffer:
/// rows land in a fixed buffer of packed keys; a full buffer is sorted, merged and folded into the sorted run
/// of distinct pairs. With a catalog, track ids resolve against it and an unknown track is a bad row;
/// without one, tracks get indices as they appear. The sink ingest's readers feed (see <see cref="IPlaySink"/>).
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

    public PlayAggregator(TrackCatalog? catalog = null, int bufferRows = 1 << 21)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferRows, 16);
        _catalog = catalog;
        _tracks = catalog?.Tracks ?? new IdMap();
        _bufferKeys = new long[bufferRows];
        _bufferValues = new float[bufferRows];
    }

    public IngestReport Report { get; } = new();
    public IdMap Users => _users;
    public IdMap Tracks => _tracks;

    /// <summary>Adds one row; <paramref name="file"/> and <paramref name="line"/> only label a bad row.</summary>
    public void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double plays, string file, long line)
    {
        if (user.IsEmpty || track.IsEmpty)
        {
            Report.Bad(BadRowReason.MissingField, file, line, "");
            return;
        }
        // An id already in a map passed these checks when it entered: only new ids are checked, so a row of known ids
        // costs its lookups and nothing more.
        var knownUser = _users.TryGet(user, out var u);
        if (!knownUser && !ValidId(user, file, line)) return;
        int t;
        var knownTrack = _tracks.TryGet(track, out t);
        if (!knownTrack && _catalog is null && !ValidId(track, file, line)) return;
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
        if (_buffered == _bufferKeys.Length) Compact();
        _bufferKeys[_buffered] = PairKeys.Pack(u, t);
        _bufferValues[_buffered] = (float)plays;
        _buffered++;
        Report.Kept(plays);
    }


    /// <summary>An id the model may hold: at most <see cref="IdLimits.MaxUtf8Bytes"/> and free of control characters
    /// (which cannot round-trip through TSV or the bundle's id files); otherwise a bad row.</summary>
    private bool ValidId(ReadOnlySpan<char> id, string file, long line)
    {
        if (!IdLimits.Fits(id)) Report.Bad(BadRowReason.IdTooLong, file, line, "");
        else if (ControlCharacters.Any(id)) Report.Bad(BadRowReason.ControlCharacter, file, line, "");
        else return true;
        return false;
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
        Compact();
        var userTrack = CsrMatrix.FromSortedKeys(_users.Count, _tracks.Count, _runKeys.AsSpan(0, _runLength), _runValues.AsSpan(0, _runLength));
        var userArtist = _catalog is null ? null : ToArtists(userTrack, _catalog);
        return new PlayMatrices(_users, _tracks, _catalog, userTrack, userArtist, Report);
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

/// <summary>The output of ingest: id maps and the two play matrices ALS trains on.</summary>
public sealed record PlayMatrices(
    IdMap Users,
    IdMap Tracks,
    TrackCatalog? Catalog,
    CsrMatrix UserTrack,
    CsrMatrix? UserArtist,
    IngestReport Report);
