using RecService.Core.Files;
using System.Text;
using RecService.Core.Ids;
using RecService.Ingest.Files;

namespace RecService.Ingest.Catalog;

/// <summary>
/// Tracks with their artist and title, artists with their name: from <c>tracks.tsv</c>
/// (<c>track_id, artist_id, title</c>) and <c>artists.tsv</c> (<c>artist_id, name</c>), tab-separated,
/// an optional header line. Dense indices follow file order.
/// </summary>
public sealed class TrackCatalog
{
    public const string TracksFileName = "tracks.tsv";
    public const string ArtistsFileName = "artists.tsv";

    private readonly List<int> _trackArtist = [];
    private readonly List<string> _trackTitle = [];
    private readonly List<string> _artistName = [];

    public IdMap Tracks { get; } = new();
    public IdMap Artists { get; } = new();
    public int TrackCount => Tracks.Count;
    public int ArtistCount => Artists.Count;
    public int ArtistOf(int track) => _trackArtist[track];
    public string TitleOf(int track) => _trackTitle[track];
    public string ArtistName(int artist) => _artistName[artist];
    public IReadOnlyList<int> TrackArtists => _trackArtist;

    public int AddArtist(string id, string name)
    {
        if (!Artists.TryAdd(id, out var index)) throw new ArgumentException($"Duplicate artist id '{id}'.");
        _artistName.Add(name);
        return index;
    }

    public int AddTrack(string id, int artist, string title)
    {
        if ((uint)artist >= (uint)ArtistCount) throw new ArgumentOutOfRangeException(nameof(artist));
        if (!Tracks.TryAdd(id, out var index)) throw new ArgumentException($"Duplicate track id '{id}'.");
        _trackArtist.Add(artist);
        _trackTitle.Add(title);
        return index;
    }

    /// <summary>Loads <c>artists.tsv</c> and <c>tracks.tsv</c> from a directory; a malformed line is an error naming file and line.</summary>
    public static TrackCatalog Load(string directory)
    {
        var catalog = new TrackCatalog();
        var artistsPath = Path.Combine(directory, ArtistsFileName);
        var tracksPath = Path.Combine(directory, TracksFileName);
        foreach (var (line, fields) in ReadTsv(artistsPath, "artist_id", 2))
        {
            if (!catalog.Artists.TryAdd(fields[0], out _)) throw new InvalidDataException($"{artistsPath}:{line}: duplicate artist id '{fields[0]}'.");
            catalog._artistName.Add(fields[1]);
        }
        foreach (var (line, fields) in ReadTsv(tracksPath, "track_id", 3))
        {
            if (!catalog.Artists.TryGet(fields[1], out var artist))
                throw new InvalidDataException($"{tracksPath}:{line}: artist '{fields[1]}' is not in {ArtistsFileName}.");
            if (!catalog.Tracks.TryAdd(fields[0], out _)) throw new InvalidDataException($"{tracksPath}:{line}: duplicate track id '{fields[0]}'.");
            catalog._trackArtist.Add(artist);
            catalog._trackTitle.Add(fields[2]);
        }
        return catalog;
    }

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        using (var w = new StreamWriter(Path.Combine(directory, ArtistsFileName), false, new UTF8Encoding(false)))
        {
            w.Write("artist_id\tname\n");
            for (var a = 0; a < ArtistCount; a++) w.Write($"{Artists[a]}\t{_artistName[a]}\n");
        }
        using (var w = new StreamWriter(Path.Combine(directory, TracksFileName), false, new UTF8Encoding(false)))
        {
            w.Write("track_id\tartist_id\ttitle\n");
            for (var t = 0; t < TrackCount; t++) w.Write($"{Tracks[t]}\t{Artists[_trackArtist[t]]}\t{_trackTitle[t]}\n");
        }
    }

    private static IEnumerable<(long Line, string[] Fields)> ReadTsv(string path, string headerFirstColumn, int columns)
    {
        if (FileKinds.NotRegular(path) is { } kind) throw new InvalidDataException($"{path}: not a regular file ({kind}); the catalog must be regular files.");
        if (!File.Exists(path)) throw new FileNotFoundException($"Catalog file not found: {path}", path);
        long line = 0;
        foreach (var text in File.ReadLines(path, Encoding.UTF8))
        {
            line++;
            if (text.Length == 0) continue;
            var fields = text.TrimEnd('\r').Split('\t');
            if (line == 1 && fields[0] == headerFirstColumn) continue;
            if (fields.Length < columns || fields[0].Length == 0 || (columns > 2 && fields[1].Length == 0))
                throw new InvalidDataException($"{path}:{line}: expected {columns} tab-separated fields, found {fields.Length}.");
            yield return (line, fields);
        }
    }
}
