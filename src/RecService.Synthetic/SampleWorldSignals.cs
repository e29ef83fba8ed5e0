using System.Text;
using RecService.Core.Sampling;
using RecService.Ingest.Catalog;

namespace RecService.Synthetic;

// The signals besides plays: listening sessions, playlists and artist tags, each from its own random streams so that
// the daily counts a world had before are written unchanged.
public static partial class SampleWorldGenerator
{
    public const string PlaylistsDirectoryName = "playlists";
    public const string PlaylistsFileName = "playlists.tsv";
    public const string TagsFileName = "artist_tags.tsv";

    private const ulong SessionStreams = 1UL << 40;
    private const ulong PlaylistStreams = 2UL << 40;
    private const ulong TagStreams = 3UL << 40;

    private static readonly string[] SubgenreWords = ["underground", "classic", "revival", "experimental"];
    private static readonly string[] MoodTags = ["chill", "energetic", "melancholic", "party", "female vocalists", "instrumental", "90s", "live"];

    /// <summary>Tag names a world can hold: each genre's name, its subgenres ("jazz classic") and moods shared by all genres.</summary>
    public static string SubgenreTag(int genre, int sub) => $"{GenreName(genre)} {SubgenreWords[sub]}";

    /// <summary>
    /// One user's plays of each day as timestamped rows in sessions: the day's plays are ordered by genre (the genre order
    /// drawn per day, one play in ten moved anywhere), cut into sessions of 5-25 plays 2.5-5 minutes apart, with more
    /// than half an hour between sessions. Returns the rows written.
    /// </summary>
    private static long WriteSessions(SampleWorldOptions o, World world, IReadOnlyList<string> trackIds, byte[] userId, int user,
        List<int>[] dayPlays, BlockOutput output)
    {
        var rng = new Xoshiro256(o.Seed, SessionStreams + (ulong)user);
        long rows = 0;
        var genreKey = new double[o.Genres];
        for (var d = 0; d < o.Days; d++)
        {
            var plays = dayPlays[d];
            if (plays.Count == 0) continue;
            for (var g = 0; g < genreKey.Length; g++) genreKey[g] = rng.NextDouble();
            var keyed = new (double Key, int Track)[plays.Count];
            for (var i = 0; i < plays.Count; i++)
                keyed[i] = (genreKey[world.ArtistGenre[world.TrackArtist[plays[i]]]] * 1000 + rng.NextDouble(), plays[i]); // genre blocks, shuffled within
            Array.Sort(keyed, (a, b) => a.Key.CompareTo(b.Key));
            // Listening is not perfectly tidy: one play in ten swaps with one anywhere in the day.
            for (var m = 0; m < keyed.Length / 10; m++)
            {
                int i = rng.NextInt(keyed.Length), j = rng.NextInt(keyed.Length);
                (keyed[i], keyed[j]) = (keyed[j], keyed[i]);
            }
            var dayStart = new DateTimeOffset(o.FirstDay.AddDays(d).ToDateTime(TimeOnly.MinValue), TimeSpan.Zero).ToUnixTimeSeconds();
            var dayEnd = dayStart + 86_400 - 1;
            var t = dayStart + rng.NextInt(8 * 3600);
            var left = 0;
            foreach (var (_, track) in keyed)
            {
                if (left == 0)
                {
                    if (rows > 0) t += 31 * 60 + rng.NextInt(3 * 3600);
                    left = 5 + rng.NextInt(21);
                }
                WriteRow(output.Days[d], userId, trackIds[track], 1, Math.Min(t, dayEnd));
                rows++;
                left--;
                t += 150 + rng.NextInt(151);
            }
        }
        return rows;
    }

    /// <summary>
    /// Playlists of 10-50 distinct tracks: each has a genre; one in five mixes in a second genre for about a third of its
    /// tracks; one track in thirty is from anywhere. Artists are drawn by the square root of their popularity, so the long
    /// tail appears in playlists far more than in plays.
    /// </summary>
    private static string WritePlaylists(SampleWorldOptions o, World world, IReadOnlyList<string> trackIds, string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, PlaylistsFileName);
        var flat = new double[o.Genres][];
        for (var g = 0; g < o.Genres; g++) flat[g] = Cumulative(world.GenreArtists[g].Select(a => Math.Sqrt(world.ArtistPopularity[a])).ToArray());
        var digits = Digits(o.Playlists);
        var chosen = new HashSet<int>();
        using var w = new StreamWriter(path, false, new UTF8Encoding(false));
        w.Write("playlist_id\ttrack_id\tposition\n");
        for (var p = 0; p < o.Playlists; p++)
        {
            var rng = new Xoshiro256(o.Seed, PlaylistStreams + (ulong)p);
            var main = rng.NextFromCumulative(world.GenreCumulative);
            var second = -1;
            if (o.Genres > 1 && rng.NextDouble() < 0.2)
                do second = rng.NextFromCumulative(world.GenreCumulative); while (second == main);
            var length = 10 + rng.NextInt(41);
            var id = $"pl{p.ToString().PadLeft(digits, '0')}";
            chosen.Clear();
            for (var attempts = 0; chosen.Count < length && attempts < length * 10; attempts++)
            {
                int track;
                if (rng.NextInt(30) == 0) track = rng.NextInt(o.Tracks);
                else
                {
                    var g = second >= 0 && rng.NextDouble() < 0.35 ? second : main;
                    var artist = world.GenreArtists[g][rng.NextFromCumulative(flat[g])];
                    var first = world.ArtistFirstTrack[artist];
                    track = first + rng.NextFromCumulative(world.ZipfCumulativeBySize[world.ArtistFirstTrack[artist + 1] - first]);
                }
                if (!chosen.Add(track)) continue;
                w.Write($"{id}\t{trackIds[track]}\t{chosen.Count}\n");
            }
        }
        return path;
    }

    /// <summary>
    /// Tags as listeners apply them (artist, tag, number of users who applied it): an artist's genre, one or two of its
    /// subgenres and up to two moods, weighted by how many listen. Sparse (a tenth of the head and a third of the tail have
    /// none) and partly wrong (one genre tag in twelve names another genre).
    /// </summary>
    private static string WriteTags(SampleWorldOptions o, World world, TrackCatalog catalog, string catalogDirectory, out int rows)
    {
        var path = Path.Combine(catalogDirectory, TagsFileName);
        rows = 0;
        using var w = new StreamWriter(path, false, new UTF8Encoding(false));
        w.Write("artist_id\ttag\tweight\n");
        for (var a = 0; a < o.Artists; a++)
        {
            var rng = new Xoshiro256(o.Seed, TagStreams + (ulong)a);
            var rank = 1 / world.ArtistPopularity[a] - 1;
            var tail = rank >= o.Artists / 2.0;
            if (rng.NextDouble() < (tail ? 1 / 3.0 : 0.1)) continue;
            var taggers = 1 + (int)(200 * Math.Sqrt(world.ArtistPopularity[a]) * rng.NextDouble());
            var genre = world.ArtistGenre[a];
            var tagged = o.Genres > 1 && rng.NextInt(12) == 0 ? (genre + 1 + rng.NextInt(o.Genres - 1)) % o.Genres : genre;
            var artist = catalog.Artists[a];
            w.Write($"{artist}\t{GenreName(tagged)}\t{taggers}\n");
            rows++;
            var subs = 1 + rng.NextInt(2);
            var first = rng.NextInt(SubgenreWords.Length);
            for (var i = 0; i < subs; i++)
            {
                w.Write($"{artist}\t{SubgenreTag(genre, (first + i) % SubgenreWords.Length)}\t{Math.Max(1, (int)(taggers * (0.2 + 0.6 * rng.NextDouble())))}\n");
                rows++;
            }
            var moods = rng.NextInt(3);
            var mood = rng.NextInt(MoodTags.Length);
            for (var i = 0; i < moods; i++)
            {
                w.Write($"{artist}\t{MoodTags[(mood + 3 * i) % MoodTags.Length]}\t{Math.Max(1, (int)(taggers * (0.1 + 0.4 * rng.NextDouble())))}\n");
                rows++;
            }
        }
        return path;
    }
}
