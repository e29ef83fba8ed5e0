using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;
using RecService.Ingest.Playlists;
using RecService.Synthetic;

namespace RecService.Ingest.Tests;

public class PlaylistSetTests
{
    /// <summary>Tracks t0..t9 of one artist: track ti has dense index i.</summary>
    private static TrackCatalog TenTracks()
    {
        var catalog = new TrackCatalog();
        var artist = catalog.AddArtist("a", "A");
        for (var i = 0; i < 10; i++) catalog.AddTrack($"t{i}", artist, $"T{i}");
        return catalog;
    }

    private static Dictionary<string, int[]> ByName(PlaylistSet set) =>
        Enumerable.Range(0, set.Count).ToDictionary(i => set.PlaylistIds[i], i => set[i].ToArray());

    [Fact]
    public async Task Tsv_gzip_and_parquet_files_make_one_set_and_a_playlist_split_over_files_is_one()
    {
        using var dir = new TempDirectory();
        dir.File("p/a.tsv", "playlist_id\ttrack_id\tposition\npA\tt1\t1\npA\tt2\t2\npB\tt3\t1\n");
        using (var z = new GZipStream(File.Create(Path.Combine(dir.Path, "p", "b.tsv.gz")), CompressionLevel.Fastest))
            z.Write(Encoding.UTF8.GetBytes("pC\tt4\t1\npC\tt5\t2\npA\tt6\t3\n"));
        await ParquetPlayLogReader.WriteAsync(Path.Combine(dir.Path, "p", "c.parquet"), RowLayout.Playlists,
            ["pD", "pD", "pA"], ["t7", "t8", "t9"], new[] { 2, 1, 4 });
        dir.File("p/notes.txt", "not a playlist file\n");

        var set = await PlaylistSet.ReadAsync(Path.Combine(dir.Path, "p"), TenTracks());

        Assert.Equal(0, set.Report.BadRows);
        Assert.Equal(3, set.Report.Files.Count);
        Assert.Equal(["pA", "pB", "pC", "pD"], set.PlaylistIds);
        Assert.Equal(new[] { 1, 2, 6, 9 }, ByName(set)["pA"]);
        Assert.Equal(new[] { 3 }, ByName(set)["pB"]);
        Assert.Equal(new[] { 4, 5 }, ByName(set)["pC"]);
        Assert.Equal(new[] { 8, 7 }, ByName(set)["pD"]); // by position, not row order
        Assert.Equal(set.Count + 1, set.Offsets.Length);
        Assert.Equal(0, set.Offsets[0]);
        Assert.Equal(set.Tracks.Length, set.Offsets[^1]);
        Assert.Contains("4 playlists, 9 tracks", set.Summary());
    }

    [Fact]
    public async Task Tracks_are_ordered_by_position_with_ties_and_missing_positions_in_file_order()
    {
        using var dir = new TempDirectory();
        // No header; pA's positions out of order with a tie (t1 before t2 in the file); pB has no positions at all.
        dir.File("p/a.tsv", "pA\tt3\t5\npA\tt1\t2\npB\tt9\npA\tt2\t2\npB\tt0\npA\tt4\t0\npB\tt5\n");
        var set = await PlaylistSet.ReadAsync(Path.Combine(dir.Path, "p"), TenTracks());
        Assert.Equal(new[] { 4, 1, 2, 3 }, ByName(set)["pA"]);
        Assert.Equal(new[] { 9, 0, 5 }, ByName(set)["pB"]);
    }

    [Fact]
    public async Task Bad_rows_are_counted_with_file_and_line_and_too_many_fail_the_read()
    {
        using var dir = new TempDirectory();
        var path = dir.File("p/a.tsv", string.Join("\n",
            "playlist_id\ttrack_id\tposition", // 1 header
            "pA\tt1\t1",                       // 2
            "pA\tnope\t2",                     // 3 unknown track
            "pA\tt2\t-1",                      // 4 negative position
            "pA\tt2\t1.5",                     // 5 fractional
            "pA\tt2\tfirst",                   // 6 not a number
            "pA",                              // 7 missing field
            "p\u001bB\tt3\t1",                 // 8 control character
            $"{new string('p', 300)}\tt3\t1",  // 9 id too long
            "pA\tt2\t2") + "\n");              // 10
        var set = await PlaylistSet.ReadAsync(Path.Combine(dir.Path, "p"), TenTracks(), maxBadFraction: 1);
        var r = set.Report;
        Assert.Equal(9, r.RowsRead);
        Assert.Equal(2, r.RowsKept);
        Assert.Equal(1, r.BadRowsFor(BadRowReason.UnknownTrack));
        Assert.Equal(3, r.BadRowsFor(BadRowReason.BadPlays));
        Assert.Equal(1, r.BadRowsFor(BadRowReason.MissingField));
        Assert.Equal(1, r.BadRowsFor(BadRowReason.ControlCharacter));
        Assert.Equal(1, r.BadRowsFor(BadRowReason.IdTooLong));
        Assert.Equal(new[] { 1, 2 }, ByName(set)["pA"]);
        Assert.Contains($"{path}:3: track not in the catalog: nope", r.Examples);
        Assert.Contains(r.Examples, e => e.StartsWith($"{path}:4: position is not a whole number"));
        Assert.Contains(r.Examples, e => e.StartsWith($"{path}:7: missing field (expected playlist_id<TAB>track_id[<TAB>position])"));
        Assert.Equal(7, r.PerFile().Single().BadRows);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => PlaylistSet.ReadAsync(Path.Combine(dir.Path, "p"), TenTracks(), maxBadFraction: 0.5));
        Assert.Contains("7 of 9 rows of playlists are bad", error.Message);
        Assert.Contains($"{path}:3", error.Message);
    }

    [Fact]
    public async Task A_missing_directory_is_an_empty_set_and_a_fifo_is_skipped_unopened()
    {
        using var dir = new TempDirectory();
        var none = await PlaylistSet.ReadAsync(Path.Combine(dir.Path, "absent"), TenTracks());
        Assert.Equal(0, none.Count);
        Assert.Equal([0L], none.Offsets);
        if (!OperatingSystem.IsLinux()) return;
        dir.File("p/a.tsv", "pA\tt1\n");
        var fifo = Path.Combine(dir.Path, "p", "b.tsv");
        using (var mkfifo = Process.Start("mkfifo", [fifo])) await mkfifo.WaitForExitAsync();
        // Opening the FIFO would block until a writer came: bounded, it fails instead of hanging.
        var set = await Task.Run(() => PlaylistSet.ReadAsync(Path.Combine(dir.Path, "p"), TenTracks())).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(1, set.Count);
        Assert.Contains(fifo, Assert.Single(set.Report.Warnings));
    }

    [Fact]
    public async Task A_generated_worlds_playlists_read_whole_in_position_order()
    {
        using var dir = new TempDirectory();
        var world = SampleWorldGenerator.Generate(new SampleWorldOptions { Users = 400, Artists = 60, Tracks = 400, Days = 1, Genres = 4, Seed = 3 }, dir.Path);
        var catalog = TrackCatalog.Load(world.CatalogDirectory);
        var set = await PlaylistSet.ReadAsync(Path.GetDirectoryName(world.PlaylistsFile)!, catalog);

        var rows = File.ReadLines(world.PlaylistsFile!).Skip(1).Select(l => l.Split('\t')).ToList();
        Assert.Equal(0, set.Report.BadRows);
        Assert.Equal(rows.Count, set.Tracks.Length);
        Assert.Equal(world.Playlists, set.Count);
        var byName = ByName(set);
        foreach (var playlist in rows.GroupBy(r => r[0]))
        {
            var expected = playlist.OrderBy(r => int.Parse(r[2])).Select(r => catalog.Tracks.TryGet(r[1], out var t) ? t : -1);
            Assert.Equal(expected, byName[playlist.Key]);
        }
    }
}
