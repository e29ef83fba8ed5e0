using System.IO.Compression;
using System.Text;
using RecService.Ingest.Catalog;
using Parquet;
using Parquet.Schema;
using RecService.Ingest.Logs;

namespace RecService.Ingest.Tests;

public class PlayLogReaderTests
{
    private static PlayMatrices ReadOne(string path, TrackCatalog? catalog = null)
    {
        var aggregator = new PlayAggregator(catalog);
        PlayLogFile.ReadAsync(path, aggregator).GetAwaiter().GetResult();
        return aggregator.Build();
    }

    [Fact]
    public void Tsv_sums_plays_per_pair_and_defaults_missing_plays_to_one()
    {
        using var dir = new TempDirectory();
        var path = dir.File("plays.tsv", "user_id\ttrack_id\tplays\nalice\tt1\t3\nbob\tt2\r\nalice\tt1\t2.5\nalice\tt2\t1\n\nbob\tt2\t4");
        var m = ReadOne(path);

        Assert.Equal(["alice", "bob"], m.Users.Ids);
        Assert.Equal(["t1", "t2"], m.Tracks.Ids);
        Assert.Equal(5.5f, m.UserTrack.Get(0, 0));
        Assert.Equal(1f, m.UserTrack.Get(0, 1));
        Assert.Equal(5f, m.UserTrack.Get(1, 1));
        Assert.Equal(0f, m.UserTrack.Get(1, 0));
        Assert.Equal(5, m.Report.RowsRead);
        Assert.Equal(0, m.Report.BadRows);
    }

    [Fact]
    public void Ids_are_bounded_in_utf8_bytes_as_every_rpc_bounds_them()
    {
        using var dir = new TempDirectory();
        var fits = new string('é', 128);    // 256 bytes
        var tooLong = new string('é', 129); // 258 bytes, though only 129 characters
        var path = dir.File("plays.tsv", $"{fits}\tt1\t1\n{tooLong}\tt1\t1\nbob\t{tooLong}\t1\n");
        var m = ReadOne(path);
        Assert.Equal([fits], m.Users.Ids);
        Assert.Equal(2, m.Report.BadRows);
        Assert.Equal(2, m.Report.BadRowsFor(BadRowReason.IdTooLong));
    }

    [Fact]
    public void Gzip_reads_the_same_as_plain()
    {
        using var dir = new TempDirectory();
        var text = string.Concat(Enumerable.Range(0, 5000).Select(i => $"u{i % 37}\tt{i % 101}\t{i % 4 + 1}\n"));
        var plain = dir.File("a.tsv", text);
        var gz = System.IO.Path.Combine(dir.Path, "a.tsv.gz");
        using (var f = File.Create(gz))
        using (var z = new GZipStream(f, CompressionLevel.Fastest))
            z.Write(Encoding.UTF8.GetBytes(text));

        var a = ReadOne(plain);
        var b = ReadOne(gz);
        Assert.Equal(a.UserTrack.RowPointers, b.UserTrack.RowPointers);
        Assert.Equal(a.UserTrack.ColumnIndices, b.UserTrack.ColumnIndices);
        Assert.Equal(a.UserTrack.Values, b.UserTrack.Values);
        Assert.Equal(5000 * 2.5, a.UserTrack.Values.Sum(v => (double)v));
    }

    [Fact]
    public void Lines_longer_than_the_read_window_are_kept_whole()
    {
        using var dir = new TempDirectory();
        var longTrack = new string('x', 200);
        var filler = string.Concat(Enumerable.Range(0, 20_000).Select(i => $"user{i}\t{longTrack}{i % 3}\t1\n"));
        var m = ReadOne(dir.File("big.tsv", filler));
        Assert.Equal(20_000, m.Report.RowsKept);
        Assert.Equal(3, m.Tracks.Count);
        Assert.Equal(20_000, m.Users.Count);
    }

    [Fact]
    public void Bad_rows_are_counted_with_file_and_line_and_do_not_stop_the_read()
    {
        using var dir = new TempDirectory();
        var path = dir.File("bad.tsv", "a\tt1\t2\nnotab\nb\tt1\t-1\nc\tt1\tmany\n\tt2\t1\nd\tt2\t1\ne\t\t1\n");
        var m = ReadOne(path);

        Assert.Equal(7, m.Report.RowsRead);
        Assert.Equal(2, m.Report.RowsKept);
        Assert.Equal(3, m.Report.BadRowsFor(BadRowReason.MissingField));
        Assert.Equal(2, m.Report.BadRowsFor(BadRowReason.BadPlays));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:2: missing field"));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:3: plays"));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:4: plays"));
        Assert.Equal(["a", "d"], m.Users.Ids);

        var error = Assert.Throws<InvalidDataException>(() => m.Report.ThrowIfTooManyBad(0.5));
        Assert.Contains("5 of 7 rows are bad", error.Message);
        m.Report.ThrowIfTooManyBad(0.75); // under the limit: reported, not fatal
    }

    [Fact]
    public void Unknown_tracks_are_bad_rows_when_a_catalog_is_given_and_artists_are_aggregated()
    {
        using var dir = new TempDirectory();
        dir.File("catalog/artists.tsv", "artist_id\tname\nA\tArtist A\nB\tArtist B\n");
        dir.File("catalog/tracks.tsv", "track_id\tartist_id\ttitle\nt1\tA\tOne\nt2\tB\tTwo\nt3\tA\tThree\n");
        var catalog = TrackCatalog.Load(System.IO.Path.Combine(dir.Path, "catalog"));
        var path = dir.File("p.tsv", "u1\tt1\t2\nu1\tt3\t5\nu1\tzzz\t1\nu2\tt2\t1\nu1\tt2\t1\n");
        var m = ReadOne(path, catalog);

        Assert.Equal(1, m.Report.BadRowsFor(BadRowReason.UnknownTrack));
        Assert.Contains(m.Report.Examples, e => e.Contains(":3: track not in the catalog: zzz"));
        Assert.Equal(3, m.Tracks.Count); // the catalog's tracks, in its order
        Assert.NotNull(m.UserArtist);
        Assert.Equal(7f, m.UserArtist!.Get(0, 0)); // t1 + t3 by artist A
        Assert.Equal(1f, m.UserArtist.Get(0, 1));
        Assert.Equal(1f, m.UserArtist.Get(1, 1));
        Assert.Equal(0f, m.UserArtist.Get(1, 0));
    }

    [Fact]
    public void Catalog_errors_name_file_and_line()
    {
        using var dir = new TempDirectory();
        dir.File("c/artists.tsv", "A\tArtist A\n");
        var tracks = dir.File("c/tracks.tsv", "t1\tA\tOne\nt2\tMISSING\tTwo\n");
        var error = Assert.Throws<InvalidDataException>(() => TrackCatalog.Load(System.IO.Path.Combine(dir.Path, "c")));
        Assert.Contains($"{tracks}:2", error.Message);
    }

    [Fact]
    public async Task Parquet_reads_the_same_columns_and_sums()
    {
        using var dir = new TempDirectory();
        var path = System.IO.Path.Combine(dir.Path, "plays.parquet");
        await ParquetPlayLogReader.WriteAsync(path, ["u1", "u2", "u1", "u1", ""], ["t1", "t1", "t1", "t2", "t3"], new[] { 2, 1, 3, 1, 1 });
        var aggregator = new PlayAggregator();
        await PlayLogFile.ReadAsync(path, aggregator);
        var m = aggregator.Build();

        Assert.Equal(5f, m.UserTrack.Get(m.Users.Ids.ToList().IndexOf("u1"), 0));
        Assert.Equal(1f, m.UserTrack.Get(m.Users.Ids.ToList().IndexOf("u2"), 0));
        Assert.Equal(1, m.Report.BadRowsFor(BadRowReason.MissingField));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:5:"));
    }

    [Fact]
    public async Task Parquet_without_a_required_column_is_refused_naming_file_and_column()
    {
        using var dir = new TempDirectory();
        var path = System.IO.Path.Combine(dir.Path, "no-tracks.parquet");
        var userField = new DataField<string>(ParquetPlayLogReader.UserColumn);
        var playsField = new DataField<int>(ParquetPlayLogReader.PlaysColumn);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(userField, playsField), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync(userField, new[] { "u1", "u2" }, null);
            await group.WriteAsync(playsField, (ReadOnlyMemory<int>)new[] { 1, 2 }, null, null);
        }

        var aggregator = new PlayAggregator();
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => PlayLogFile.ReadAsync(path, aggregator));
        Assert.Contains(path, error.Message);
        Assert.Contains($"no '{ParquetPlayLogReader.TrackColumn}' column", error.Message);
        Assert.Contains("columns: user_id, plays", error.Message);
    }

    [Fact]
    public async Task A_file_that_is_not_parquet_is_refused_by_name()
    {
        using var dir = new TempDirectory();
        var notParquet = dir.File("x.parquet", "this is not parquet");
        var aggregator = new PlayAggregator();
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => PlayLogFile.ReadAsync(notParquet, aggregator));
        Assert.Contains(notParquet, error.Message);
        Assert.Contains("not a readable Parquet file", error.Message);
    }

    [Fact]
    public void Compaction_across_many_buffers_gives_the_same_sums()
    {
        var rows = Enumerable.Range(0, 10_000).Select(i => ($"u{i * 7919 % 97}", $"t{i * 104729 % 211}", (double)(i % 5 + 1))).ToList();
        var small = new PlayAggregator(bufferRows: 16);
        var large = new PlayAggregator();
        foreach (var (u, t, p) in rows)
        {
            small.Add(u, t, p, "mem", 0);
            large.Add(u, t, p, "mem", 0);
        }
        var a = small.Build().UserTrack;
        var b = large.Build().UserTrack;
        Assert.Equal(b.RowPointers, a.RowPointers);
        Assert.Equal(b.ColumnIndices, a.ColumnIndices);
        Assert.Equal(b.Values, a.Values);
        Assert.Equal(rows.Sum(r => r.Item3), a.Values.Sum(v => (double)v));
    }

    [Fact]
    public async Task Snapshot_window_picks_the_last_days_and_ignores_undated_folders()
    {
        using var dir = new TempDirectory();
        dir.File("2026-11-01/a.tsv", "u1\tt1\t1\n");
        dir.File("2026-11-02/a.tsv", "u1\tt1\t10\n");
        dir.File("2026-11-03/a.tsv", "u1\tt2\t100\n");
        dir.File("2026-11-04.tmp/a.tsv", "u1\tt3\t1000\n");
        dir.File("2026-11-03/notes.txt", "ignored");
        var set = SnapshotSet.Discover(dir.Path);

        Assert.Equal(3, set.Snapshots.Count);
        Assert.Equal(new DateOnly(2026, 11, 3), set.Latest!.Date);
        var window = set.Window(2);
        Assert.Equal([new DateOnly(2026, 11, 2), new DateOnly(2026, 11, 3)], window.Select(s => s.Date));
        var m = await set.ReadAsync(window);
        Assert.Equal(110f, m.UserTrack.Values.Sum());
        Assert.Equal(2, m.Report.Files.Count);
    }
}
