using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;
using RecService.Synthetic;

namespace RecService.Ingest.Tests;

public class SampleWorldTests
{
    private static readonly SampleWorldOptions Small = new() { Users = 3000, Artists = 300, Tracks = 2000, Days = 3, Genres = 8, Seed = 7 };

    [Fact]
    public void Same_seed_gives_identical_files_and_another_seed_does_not()
    {
        using var a = new TempDirectory();
        using var b = new TempDirectory();
        using var c = new TempDirectory();
        SampleWorldGenerator.Generate(Small, a.Path);
        SampleWorldGenerator.Generate(Small, b.Path);
        SampleWorldGenerator.Generate(Small with { Seed = 8 }, c.Path);

        var files = Directory.EnumerateFiles(a.Path, "*", SearchOption.AllDirectories).Select(f => Path.GetRelativePath(a.Path, f)).Order().ToList();
        Assert.Contains(Path.Combine("snapshots", "2026-11-03", "plays.tsv"), files);
        foreach (var f in files)
            Assert.Equal(File.ReadAllBytes(Path.Combine(a.Path, f)), File.ReadAllBytes(Path.Combine(b.Path, f)));
        var day = Path.Combine("snapshots", "2026-11-01", "plays.tsv");
        Assert.NotEqual(File.ReadAllBytes(Path.Combine(a.Path, day)), File.ReadAllBytes(Path.Combine(c.Path, day)));
    }

    [Fact]
    public async Task World_reads_back_cleanly_with_the_promised_sizes()
    {
        using var dir = new TempDirectory();
        var result = SampleWorldGenerator.Generate(Small, dir.Path);
        var catalog = TrackCatalog.Load(result.CatalogDirectory);
        var m = await SnapshotSet.Discover(result.SnapshotsDirectory).ReadAsync(catalog: catalog);

        Assert.Equal(0, m.Report.BadRows);
        Assert.Equal(Small.Users, m.Users.Count);
        Assert.Equal(Small.Tracks, catalog.TrackCount);
        Assert.Equal(Small.Artists, catalog.ArtistCount);
        Assert.Equal(result.Plays, m.Report.PlaysKept);
        Assert.Equal(result.DistinctPairs, m.UserTrack.NonZeros);
        // Plays near 40 per user and distinct pairs near the 0.62 ratio.
        Assert.InRange(result.Plays, Small.Users * 30, Small.Users * 50);
        Assert.InRange((double)result.DistinctPairs / result.Plays, 0.5, 0.7);
        // Zipf replays: some pairs are played many times.
        Assert.True(m.UserTrack.Values.Max() >= 10);
    }

    [Fact]
    public async Task Artists_listened_to_by_the_same_users_share_a_genre()
    {
        using var dir = new TempDirectory();
        var result = SampleWorldGenerator.Generate(Small, dir.Path);
        var catalog = TrackCatalog.Load(result.CatalogDirectory);
        var m = await SnapshotSet.Discover(result.SnapshotsDirectory).ReadAsync(catalog: catalog);
        var genre = File.ReadLines(result.GenresFile).Skip(1).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);

        // Co-listener cosine between artists (binary user sets), nearest neighbour of the 50 most played artists.
        var artistUsers = m.UserArtist!.Transpose();
        var listeners = Enumerable.Range(0, artistUsers.Rows).Select(a => artistUsers.RowIndices(a).ToArray()).ToArray();
        var top = Enumerable.Range(0, artistUsers.Rows).OrderByDescending(a => listeners[a].Length).Take(50).ToList();
        var same = 0;
        foreach (var a in top)
        {
            var best = -1;
            var bestScore = -1.0;
            for (var b = 0; b < listeners.Length; b++)
            {
                if (b == a || listeners[b].Length == 0) continue;
                var common = listeners[a].Intersect(listeners[b]).Count();
                var score = common / Math.Sqrt((double)listeners[a].Length * listeners[b].Length);
                if (score > bestScore) (best, bestScore) = (b, score);
            }
            if (genre[catalog.Artists[a]] == genre[catalog.Artists[best]]) same++;
        }
        // With 8 genres a random neighbour shares the genre about 1 time in 8 (more for big genres); structure gives most.
        Assert.True(same >= 40, $"only {same} of 50 nearest co-listened artists share a genre");
    }

    [Fact]
    public void Bad_options_are_refused_with_the_flag_named()
    {
        using var dir = new TempDirectory();
        var error = Assert.Throws<ArgumentException>(() => SampleWorldGenerator.Generate(Small with { Tracks = 10 }, dir.Path));
        Assert.Contains("--tracks", error.Message);
    }
}
