using System.Buffers;
using System.Buffers.Text;
using System.IO.Compression;
using System.Text;
using RecService.Core.Sampling;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;

namespace RecService.Synthetic;

/// <summary>Where a generated world was written and what it holds.</summary>
public sealed record SampleWorldResult(string Root, string SnapshotsDirectory, string CatalogDirectory, string GenresFile, long Rows, long Plays, long DistinctPairs)
{
    /// <summary>The playlists file (<c>playlists/playlists.tsv</c>), or null when none were asked for.</summary>
    public string? PlaylistsFile { get; init; }
    public int Playlists { get; init; }
    /// <summary>The artist tags file (<c>catalog/artist_tags.tsv</c>), or null when tags were not asked for.</summary>
    public string? TagsFile { get; init; }
    public int TagRows { get; init; }
}

/// <summary>
/// A seeded, deterministic music world with the structure real listening has: genres of Zipf popularity,
/// artists of power-law popularity each in one genre, tracks per artist with Zipf popularity, and users whose
/// taste mixes one to three genres, who return to a few favourite artists and replay a few tracks many times.
/// Each user draws from its own random stream, so output is identical whatever the thread count.
/// Writes <c>snapshots/yyyy-MM-dd/plays.tsv</c> (daily counts, or with <see cref="SampleWorldOptions.Events"/> one
/// timestamped row per play, in listening sessions), <c>catalog/{tracks,artists}.tsv</c>, <c>artist_genres.tsv</c>
/// (the ground truth tests check related artists against), and the ensemble's other signals: playlists
/// (<c>playlists/playlists.tsv</c>) and artist tags (<c>catalog/artist_tags.tsv</c>), each with its own noise.
/// </summary>
public static partial class SampleWorldGenerator
{
    public const string GenresFileName = "artist_genres.tsv";

    private static readonly string[] GenreNames =
    [
        "rock", "pop", "hip-hop", "electronic", "jazz", "classical", "metal", "folk",
        "country", "reggae", "blues", "soul", "punk", "latin", "k-pop", "ambient",
    ];
    private static readonly string[] Adjectives =
    [
        "Crimson", "Silver", "Electric", "Velvet", "Hollow", "Golden", "Midnight", "Paper", "Neon", "Wild",
        "Quiet", "Broken", "Northern", "Lunar", "Iron", "Glass", "Violet", "Burning", "Frozen", "Lucky",
    ];
    private static readonly string[] Nouns =
    [
        "Owls", "Rivers", "Engines", "Harbors", "Wolves", "Mirrors", "Satellites", "Gardens", "Tides", "Lanterns",
        "Ghosts", "Kings", "Horizons", "Sparrows", "Machines", "Canyons", "Echoes", "Comets", "Foxes", "Bells",
    ];

    /// <summary>The world's fixed structure, shared read-only by the user threads.</summary>
    private sealed class World
    {
        public required int[] ArtistGenre;
        public required int[] ArtistFirstTrack; // tracks of artist a: [ArtistFirstTrack[a], ArtistFirstTrack[a+1])
        public required int[][] GenreArtists;
        public required double[][] GenreArtistCumulative; // by artist popularity
        public required double[] GenreCumulative;
        public required double[][] ZipfCumulativeBySize; // track choice within an artist, by its track count
        public required double[] ArtistPopularity; // 1 / (popularity rank + 1)
        public required int[] TrackArtist;
    }

    public static SampleWorldResult Generate(SampleWorldOptions options, string outputDirectory)
    {
        options.Validate();
        var rng = new Xoshiro256(options.Seed, ulong.MaxValue);
        var world = BuildWorld(options, ref rng, out var catalog);

        var snapshots = Path.Combine(outputDirectory, "snapshots");
        var catalogDir = Path.Combine(outputDirectory, "catalog");
        catalog.Save(catalogDir);
        var genresFile = Path.Combine(outputDirectory, GenresFileName);
        using (var w = new StreamWriter(genresFile, false, new UTF8Encoding(false)))
        {
            w.Write("artist_id\tgenre\n");
            for (var a = 0; a < catalog.ArtistCount; a++) w.Write($"{catalog.Artists[a]}\t{GenreName(world.ArtistGenre[a])}\n");
        }

        // Users in blocks: each block renders its rows per day into its own buffers; blocks are written in order.
        const int blockUsers = 2048;
        var blocks = (options.Users + blockUsers - 1) / blockUsers;
        var meanPlays = (double)options.TotalPlays / options.Users;
        var trackIds = catalog.Tracks.Ids;
        var streams = new Stream[options.Days];
        long rows = 0, plays = 0, distinct = 0;
        try
        {
            for (var d = 0; d < options.Days; d++)
            {
                var dir = Path.Combine(snapshots, options.FirstDay.AddDays(d).ToString(SnapshotSet.DateFormat));
                Directory.CreateDirectory(dir);
                var file = File.Create(Path.Combine(dir, options.Gzip ? "plays.tsv.gz" : "plays.tsv"));
                streams[d] = options.Gzip ? new GZipStream(file, CompressionLevel.Fastest) : file;
            }
            // Bounded look-ahead: render up to 2 blocks per core, then write them in order.
            var window = Math.Max(2, Environment.ProcessorCount * 2);
            for (var start = 0; start < blocks; start += window)
            {
                var count = Math.Min(window, blocks - start);
                var rendered = new BlockOutput[count];
                Parallel.For(0, count, i =>
                {
                    var b = start + i;
                    var first = b * blockUsers;
                    var last = Math.Min(options.Users, first + blockUsers);
                    rendered[i] = RenderBlock(options, world, trackIds, first, last, meanPlays);
                });
                foreach (var block in rendered)
                {
                    for (var d = 0; d < options.Days; d++) streams[d].Write(block.Days[d].WrittenSpan);
                    rows += block.Rows;
                    plays += block.Plays;
                    distinct += block.Distinct;
                }
            }
        }
        finally
        {
            foreach (var s in streams) s?.Dispose();
        }
        string? playlistsFile = null, tagsFile = null;
        var tagRows = 0;
        if (options.Playlists > 0) playlistsFile = WritePlaylists(options, world, trackIds, Path.Combine(outputDirectory, PlaylistsDirectoryName));
        if (options.Tags) tagsFile = WriteTags(options, world, catalog, catalogDir, out tagRows);
        return new SampleWorldResult(outputDirectory, snapshots, catalogDir, genresFile, rows, plays, distinct)
        {
            PlaylistsFile = playlistsFile, Playlists = options.Playlists, TagsFile = tagsFile, TagRows = tagRows,
        };
    }

    public static string GenreName(int genre) => genre < GenreNames.Length ? GenreNames[genre] : $"genre-{genre + 1}";

    private static World BuildWorld(SampleWorldOptions o, ref Xoshiro256 rng, out TrackCatalog catalog)
    {
        // Genre popularity: Zipf(0.8) so a few genres are big, none empty (each gets at least one artist).
        var genreWeight = new double[o.Genres];
        for (var g = 0; g < o.Genres; g++) genreWeight[g] = 1.0 / Math.Pow(g + 1, 0.8);
        var genreCumulative = Cumulative(genreWeight);

        var artistGenre = new int[o.Artists];
        for (var a = 0; a < o.Artists; a++) artistGenre[a] = a < o.Genres ? a : rng.NextFromCumulative(genreCumulative);

        // Artist popularity: power law over a random ranking (rank^-1), so the head artists are in every genre.
        var rank = Enumerable.Range(0, o.Artists).ToArray();
        for (var i = rank.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (rank[i], rank[j]) = (rank[j], rank[i]);
        }
        var artistPopularity = new double[o.Artists];
        for (var a = 0; a < o.Artists; a++) artistPopularity[a] = 1.0 / (rank[a] + 1);

        // Tracks per artist: one each, the rest spread by sqrt(popularity) (popular artists have larger catalogs).
        var trackCount = new int[o.Artists];
        Array.Fill(trackCount, 1);
        var spread = Cumulative(artistPopularity.Select(Math.Sqrt).ToArray());
        for (var t = o.Artists; t < o.Tracks; t++) trackCount[rng.NextFromCumulative(spread)]++;
        var firstTrack = new int[o.Artists + 1];
        for (var a = 0; a < o.Artists; a++) firstTrack[a + 1] = firstTrack[a] + trackCount[a];

        catalog = new TrackCatalog();
        var artistDigits = Digits(o.Artists);
        var trackDigits = Digits(o.Tracks);
        for (var a = 0; a < o.Artists; a++)
        {
            var name = $"The {Adjectives[rng.NextInt(Adjectives.Length)]} {Nouns[rng.NextInt(Nouns.Length)]}";
            catalog.AddArtist($"ar{a.ToString().PadLeft(artistDigits, '0')}", $"{name} {a}");
        }
        for (var a = 0; a < o.Artists; a++)
        {
            for (var t = firstTrack[a]; t < firstTrack[a + 1]; t++)
            {
                var title = $"{Adjectives[rng.NextInt(Adjectives.Length)]} {Nouns[rng.NextInt(Nouns.Length)]}";
                catalog.AddTrack($"tr{t.ToString().PadLeft(trackDigits, '0')}", a, $"{title} ({GenreName(artistGenre[a])})");
            }
        }

        var genreArtists = new int[o.Genres][];
        var genreArtistCumulative = new double[o.Genres][];
        for (var g = 0; g < o.Genres; g++)
        {
            genreArtists[g] = Enumerable.Range(0, o.Artists).Where(a => artistGenre[a] == g).ToArray();
            genreArtistCumulative[g] = Cumulative(genreArtists[g].Select(a => artistPopularity[a]).ToArray());
        }
        var maxTracks = trackCount.Max();
        var zipfBySize = new double[maxTracks + 1][];
        for (var n = 1; n <= maxTracks; n++)
        {
            var w = new double[n];
            for (var i = 0; i < n; i++) w[i] = 1.0 / (i + 1);
            zipfBySize[n] = Cumulative(w);
        }
        zipfBySize[0] = [1.0];
        return new World
        {
            ArtistGenre = artistGenre,
            ArtistFirstTrack = firstTrack,
            GenreArtists = genreArtists,
            GenreArtistCumulative = genreArtistCumulative,
            GenreCumulative = genreCumulative,
            ZipfCumulativeBySize = zipfBySize,
            ArtistPopularity = artistPopularity,
            TrackArtist = Enumerable.Range(0, o.Artists).SelectMany(a => Enumerable.Repeat(a, trackCount[a])).ToArray(),
        };
    }

    private sealed class BlockOutput(int days)
    {
        public ArrayBufferWriter<byte>[] Days { get; } = Enumerable.Range(0, days).Select(_ => new ArrayBufferWriter<byte>(1 << 16)).ToArray();
        public long Rows, Plays, Distinct;
    }

    private static BlockOutput RenderBlock(SampleWorldOptions o, World world, IReadOnlyList<string> trackIds, int firstUser, int lastUser, double meanPlays)
    {
        var output = new BlockOutput(o.Days);
        var library = new List<int>();
        var seen = new HashSet<int>();
        var favourites = new List<int>();
        var counts = new int[o.Days];
        var dayPlays = o.Events ? Enumerable.Range(0, o.Days).Select(_ => new List<int>()).ToArray() : [];
        var userDigits = Digits(o.Users);
        var tasteGenres = new int[3];
        var tasteWeights = new double[3];
        // Cap the library so a heavy user can still find distinct tracks without endless retries.
        var maxLibrary = Math.Max(1, o.Tracks / 4);
        for (var u = firstUser; u < lastUser; u++)
        {
            var rng = new Xoshiro256(o.Seed, (ulong)u);
            var userId = Encoding.UTF8.GetBytes($"u{u.ToString().PadLeft(userDigits, '0')}");

            // Taste: 1-3 genres drawn by genre popularity, with random weights.
            var genreCount = rng.NextDouble() switch { < 0.4 => 1, < 0.8 => 2, _ => 3 };
            genreCount = Math.Min(genreCount, o.Genres);
            for (var i = 0; i < genreCount; i++)
            {
                int g;
                do g = rng.NextFromCumulative(world.GenreCumulative); while (Array.IndexOf(tasteGenres, g, 0, i) >= 0);
                tasteGenres[i] = g;
                tasteWeights[i] = (i == 0 ? 0 : tasteWeights[i - 1]) + 0.2 + rng.NextDouble();
            }
            var taste = tasteWeights.AsSpan(0, genreCount);

            // Activity: log-normal around the mean (sigma 1: heavy users play ~20x the median user).
            var totalPlays = (int)Math.Max(1, Math.Round(meanPlays * Math.Exp(rng.NextGaussian() - 0.5)));
            var librarySize = (int)Math.Clamp(Math.Round(totalPlays * o.DistinctRatio), 1, Math.Min(totalPlays, maxLibrary));

            // Favourite artists: most of a user's library comes from a handful of artists in its genres.
            favourites.Clear();
            var favouriteCount = 1 + (int)Math.Sqrt(librarySize);
            for (var i = 0; i < favouriteCount; i++) favourites.Add(DrawArtist(world, taste, tasteGenres, o.Genres, ref rng));

            library.Clear();
            seen.Clear();
            for (var attempts = 0; library.Count < librarySize && attempts < librarySize * 10; attempts++)
            {
                var artist = rng.NextDouble() < 0.75 ? favourites[rng.NextInt(favourites.Count)] : DrawArtist(world, taste, tasteGenres, o.Genres, ref rng);
                var first = world.ArtistFirstTrack[artist];
                var size = world.ArtistFirstTrack[artist + 1] - first;
                var track = first + rng.NextFromCumulative(world.ZipfCumulativeBySize[size]);
                if (seen.Add(track)) library.Add(track);
            }

            // Plays: one per library track, the rest Zipf over the library (a few tracks on repeat), each on a random day.
            var extra = totalPlays - library.Count;
            var perTrack = ArrayPool<int>.Shared.Rent(library.Count);
            perTrack.AsSpan(0, library.Count).Fill(1);
            var zipf = library.Count < world.ZipfCumulativeBySize.Length ? world.ZipfCumulativeBySize[library.Count] : null;
            for (var p = 0; p < extra; p++)
            {
                var i = zipf is null ? (int)Math.Min(library.Count - 1, library.Count * Math.Pow(rng.NextDouble(), 3)) : rng.NextFromCumulative(zipf);
                perTrack[i]++;
            }
            if (o.Events) foreach (var day in dayPlays) day.Clear();
            for (var i = 0; i < library.Count; i++)
            {
                Array.Clear(counts);
                for (var p = 0; p < perTrack[i]; p++) counts[rng.NextInt(o.Days)]++;
                for (var d = 0; d < o.Days; d++)
                {
                    if (counts[d] == 0) continue;
                    if (o.Events)
                    {
                        for (var c = 0; c < counts[d]; c++) dayPlays[d].Add(library[i]);
                        continue;
                    }
                    WriteRow(output.Days[d], userId, trackIds[library[i]], counts[d]);
                    output.Rows++;
                }
                output.Plays += perTrack[i];
            }
            if (o.Events) output.Rows += WriteSessions(o, world, trackIds, userId, u, dayPlays, output);
            output.Distinct += library.Count;
            ArrayPool<int>.Shared.Return(perTrack);
        }
        return output;
    }

    private static int DrawArtist(World world, ReadOnlySpan<double> taste, int[] tasteGenres, int genres, ref Xoshiro256 rng)
    {
        // 5% exploration outside the user's genres keeps the world from being perfectly separable.
        var g = rng.NextDouble() < 0.05 ? rng.NextInt(genres) : tasteGenres[rng.NextFromCumulative(taste)];
        var artists = world.GenreArtists[g];
        return artists[rng.NextFromCumulative(world.GenreArtistCumulative[g])];
    }

    private static void WriteRow(ArrayBufferWriter<byte> writer, byte[] user, string track, int plays, long timestamp = -1)
    {
        var span = writer.GetSpan(user.Length + track.Length + 40);
        user.CopyTo(span);
        var n = user.Length;
        span[n++] = (byte)'\t';
        n += Encoding.UTF8.GetBytes(track, span[n..]);
        span[n++] = (byte)'\t';
        Utf8Formatter.TryFormat(plays, span[n..], out var w);
        n += w;
        if (timestamp >= 0)
        {
            span[n++] = (byte)'\t';
            Utf8Formatter.TryFormat(timestamp, span[n..], out w);
            n += w;
        }
        span[n++] = (byte)'\n';
        writer.Advance(n);
    }

    private static double[] Cumulative(double[] weights)
    {
        var c = new double[weights.Length];
        double sum = 0;
        for (var i = 0; i < weights.Length; i++) c[i] = sum += weights[i];
        return c;
    }

    private static int Digits(int count) => Math.Max(1, (count - 1).ToString().Length);
}
