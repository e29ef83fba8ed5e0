using RecService.Synthetic;

namespace RecService.Ingest.Tests;

/// <summary>The generated world's signals besides daily counts: play events in sessions, playlists and artist tags.</summary>
public class SampleWorldSignalsTests
{
    private static readonly SampleWorldOptions Small = new() { Users = 2000, Artists = 300, Tracks = 2000, Days = 2, Genres = 8, Seed = 7 };

    private static (Dictionary<string, string> ArtistGenre, Dictionary<string, string> TrackArtist) Truth(SampleWorldResult world)
    {
        var genre = File.ReadLines(world.GenresFile).Skip(1).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);
        var trackArtist = File.ReadLines(Path.Combine(world.CatalogDirectory, "tracks.tsv")).Skip(1).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);
        return (genre, trackArtist);
    }

    [Fact]
    public void Events_are_one_row_per_play_in_sessions_that_keep_to_a_genre()
    {
        using var dir = new TempDirectory();
        var counts = SampleWorldGenerator.Generate(Small, dir.Path);
        using var dir2 = new TempDirectory();
        var events = SampleWorldGenerator.Generate(Small with { Events = true }, dir2.Path);
        // The same plays, one row each.
        Assert.Equal(counts.Plays, events.Plays);
        Assert.Equal(events.Plays, events.Rows);
        var (genre, trackArtist) = Truth(events);

        var rows = Directory.EnumerateFiles(events.SnapshotsDirectory, "plays.tsv", SearchOption.AllDirectories)
            .SelectMany(File.ReadLines).Select(l => l.Split('\t')).ToList();
        Assert.All(rows, r => Assert.Equal(4, r.Length));
        Assert.All(rows, r => Assert.Equal("1", r[2]));
        long sameGenreNear = 0, near = 0, gaps = 0;
        foreach (var user in rows.GroupBy(r => r[0]))
        {
            var ordered = user.OrderBy(r => long.Parse(r[3])).ToList();
            for (var i = 1; i < ordered.Count; i++)
            {
                var gap = long.Parse(ordered[i][3]) - long.Parse(ordered[i - 1][3]);
                Assert.True(gap >= 0);
                if (gap > 30 * 60) { gaps++; continue; }
                near++;
                if (genre[trackArtist[ordered[i][1]]] == genre[trackArtist[ordered[i - 1][1]]]) sameGenreNear++;
            }
        }
        // Sessions exist (gaps of more than 30 minutes), and within one the next play mostly keeps the genre; users mix
        // up to three genres, so order by chance would keep it far less often.
        Assert.True(gaps > Small.Users, $"{gaps} session breaks");
        Assert.True(sameGenreNear > 0.8 * near, $"same genre within sessions: {sameGenreNear} of {near}");
    }

    [Fact]
    public void Playlists_mostly_keep_to_a_genre_and_reach_the_long_tail()
    {
        using var dir = new TempDirectory();
        var world = SampleWorldGenerator.Generate(Small, dir.Path);
        var (genre, trackArtist) = Truth(world);
        var lines = File.ReadLines(world.PlaylistsFile!).ToList();
        Assert.Equal("playlist_id\ttrack_id\tposition", lines[0]);
        var playlists = lines.Skip(1).Select(l => l.Split('\t')).GroupBy(f => f[0]).ToList();
        Assert.Equal(Small.Users / 4, playlists.Count);
        double majority = 0;
        var mixed = 0;
        foreach (var p in playlists)
        {
            var tracks = p.Select(f => f[1]).ToList();
            Assert.Equal(tracks.Count, tracks.Distinct().Count());
            Assert.Equal(Enumerable.Range(1, tracks.Count).Select(i => i.ToString()), p.Select(f => f[2]));
            Assert.InRange(tracks.Count, 10, 50);
            var share = tracks.GroupBy(t => genre[trackArtist[t]]).Max(g => g.Count()) / (double)tracks.Count;
            majority += share;
            if (share < 0.8) mixed++;
        }
        majority /= playlists.Count;
        // Mostly one genre, but some mix (noise the models must live with).
        Assert.InRange(majority, 0.8, 0.97);
        Assert.True(mixed > playlists.Count / 20, $"{mixed} mixed playlists");
        // The tail: most artists appear in some playlist, though plays concentrate on the head.
        var artistsInPlaylists = playlists.SelectMany(p => p.Select(f => trackArtist[f[1]])).Distinct().Count();
        Assert.True(artistsInPlaylists > 0.8 * Small.Artists, $"{artistsInPlaylists} artists in playlists");
    }

    [Fact]
    public void Tags_are_sparse_partly_wrong_and_mostly_name_the_genre()
    {
        using var dir = new TempDirectory();
        var world = SampleWorldGenerator.Generate(Small, dir.Path);
        var (genre, _) = Truth(world);
        var lines = File.ReadLines(world.TagsFile!).ToList();
        Assert.Equal("artist_id\ttag\tweight", lines[0]);
        var rows = lines.Skip(1).Select(l => l.Split('\t')).ToList();
        Assert.Equal(world.TagRows, rows.Count);
        Assert.All(rows, r => Assert.True(int.Parse(r[2]) >= 1));
        var genres = genre.Values.ToHashSet();
        var tagged = rows.GroupBy(r => r[0]).ToList();
        // Sparse: some artists have no tags at all.
        Assert.InRange(tagged.Count, 0.6 * Small.Artists, 0.9 * Small.Artists);
        // Each tagged artist's genre-name tag is its own genre most of the time, not always.
        var right = tagged.Count(a => a.Where(r => genres.Contains(r[1])).Select(r => r[1]).Single() == genre[a.Key]);
        Assert.InRange(right / (double)tagged.Count, 0.85, 0.98);
    }

    [Fact]
    public void Signals_can_be_left_out()
    {
        using var dir = new TempDirectory();
        var world = SampleWorldGenerator.Generate(Small with { PlaylistCount = 0, Tags = false }, dir.Path);
        Assert.Null(world.PlaylistsFile);
        Assert.Null(world.TagsFile);
        Assert.False(Directory.Exists(Path.Combine(dir.Path, SampleWorldGenerator.PlaylistsDirectoryName)));
        Assert.False(File.Exists(Path.Combine(world.CatalogDirectory, SampleWorldGenerator.TagsFileName)));
    }
}
