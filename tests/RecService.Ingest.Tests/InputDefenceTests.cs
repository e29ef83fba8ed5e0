using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Parquet;
using Parquet.Schema;
using RecService.Ingest.Logs;

namespace RecService.Ingest.Tests;

/// <summary>Inputs a careless producer or an attacker could leave in a snapshot folder (issue 18, training input).</summary>
[Collection(AllocationMeasuringCollection.Name)]
public class InputDefenceTests
{
    private static async Task<PlayMatrices> ReadOneAsync(string path)
    {
        var aggregator = new PlayAggregator();
        await PlayLogFile.ReadAsync(path, aggregator);
        return aggregator.Build();
    }

    private static string Rows(int count) => string.Concat(Enumerable.Range(0, count).Select(i => $"u{i % 97}\tt{i % 89}\t{i % 3 + 1}\n"));

    private static void WriteGzip(string path, string text)
    {
        using var file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        gzip.Write(Encoding.UTF8.GetBytes(text));
    }

    [Fact]
    public async Task A_gzip_file_cut_short_fails_naming_the_file_and_fails_the_snapshot_read()
    {
        using var dir = new TempDirectory();
        var full = Path.Combine(dir.Path, "full.tsv.gz");
        WriteGzip(full, Rows(50_000));
        var bytes = await File.ReadAllBytesAsync(full);
        var cut = Path.Combine(dir.Path, "2026-11-01", "plays.tsv.gz");
        Directory.CreateDirectory(Path.GetDirectoryName(cut)!);
        await File.WriteAllBytesAsync(cut, bytes[..(bytes.Length / 2)]);

        var error = await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(cut));
        Assert.Contains(cut, error.Message);
        Assert.Contains("truncated", error.Message);
        await Assert.ThrowsAsync<InvalidDataException>(() => SnapshotSet.Discover(dir.Path).ReadAsync());

        // Cut inside the 8-byte trailer, and with the trailer gone: still refused.
        foreach (var keep in new[] { bytes.Length - 3, bytes.Length - 8 })
        {
            await File.WriteAllBytesAsync(cut, bytes[..keep]);
            var e = await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(cut));
            Assert.Contains(cut, e.Message);
        }
    }

    [Fact]
    public async Task A_corrupt_gzip_file_fails_naming_the_file()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "bad.tsv.gz");
        WriteGzip(path, Rows(20_000));
        var bytes = await File.ReadAllBytesAsync(path);
        for (var i = bytes.Length / 2; i < bytes.Length / 2 + 16; i++) bytes[i] ^= 0x5A;
        await File.WriteAllBytesAsync(path, bytes);
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(path));
        Assert.Contains(path, error.Message);

        // Not gzip at all, and empty: refused too.
        await File.WriteAllTextAsync(path, "u1\tt1\t1\n");
        Assert.Contains(path, (await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(path))).Message);
        await File.WriteAllBytesAsync(path, []);
        Assert.Contains(path, (await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(path))).Message);
    }

    [Fact]
    public async Task Concatenated_gzip_members_read_as_one_file()
    {
        using var dir = new TempDirectory();
        var a = Path.Combine(dir.Path, "a.gz");
        var b = Path.Combine(dir.Path, "b.gz");
        WriteGzip(a, Rows(3000));
        WriteGzip(b, "x1\ty1\t7\n");
        var both = Path.Combine(dir.Path, "both.tsv.gz");
        await File.WriteAllBytesAsync(both, [.. await File.ReadAllBytesAsync(a), .. await File.ReadAllBytesAsync(b)]);
        var m = await ReadOneAsync(both);
        Assert.Equal(3001, m.Report.RowsKept);
        Assert.Equal(3000 * 2 + 7, m.UserTrack.Values.Sum(v => (double)v));
    }

    [Fact]
    public async Task Gzip_members_with_optional_header_fields_are_read()
    {
        // FEXTRA, FNAME, FCOMMENT and FHCRC set, as RFC 1952 allows; the CRC-16 is not checked, only skipped.
        var data = "u4\tt2\t7\n"u8.ToArray();
        using var member = new MemoryStream();
        member.Write([0x1f, 0x8b, 8, 0x04 | 0x08 | 0x10 | 0x02, 0, 0, 0, 0, 0, 3, 4, 0, .. "abcd"u8, .. "name\0"u8, .. "comment\0"u8, 0x12, 0x34]);
        using (var deflate = new DeflateStream(member, CompressionLevel.Optimal, leaveOpen: true)) deflate.Write(data);
        member.Write(BitConverter.GetBytes(System.IO.Hashing.Crc32.HashToUInt32(data)));
        member.Write(BitConverter.GetBytes(data.Length));
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "fields.tsv.gz");
        await File.WriteAllBytesAsync(path, member.ToArray());
        var m = await ReadOneAsync(path);
        Assert.Equal(["u4"], m.Users.Ids);
        Assert.Equal(7f, m.UserTrack.Get(0, 0));
    }

    [Fact]
    public async Task Non_finite_and_absurd_plays_are_bad_rows_and_never_reach_the_matrix()
    {
        using var dir = new TempDirectory();
        var path = dir.File("plays.tsv", "a\tt1\t2\nb\tt1\t1e308\nc\tt1\t1e39\nd\tt1\tNaN\ne\tt1\tInfinity\nf\tt1\t-3\ng\tt1\t5000000\na\tt2\t3\n");
        var m = await ReadOneAsync(path);
        Assert.Equal(8, m.Report.RowsRead);
        Assert.Equal(2, m.Report.RowsKept);
        Assert.Equal(6, m.Report.BadRowsFor(BadRowReason.BadPlays));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:2: plays"));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:7: plays"));
        Assert.Equal(["a"], m.Users.Ids);
        Assert.All(m.UserTrack.Values, v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public async Task A_line_longer_than_the_window_is_one_bad_row_read_in_bounded_memory()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "long.tsv");
        const int longLine = 64 << 20;
        await using (var file = File.Create(path))
        {
            file.Write("a\tt1\t1\nu\t"u8);
            var chunk = new byte[1 << 20];
            chunk.AsSpan().Fill((byte)'x');
            for (var written = 0; written < longLine; written += chunk.Length) file.Write(chunk);
            file.Write("\nb\tt1\t2\nc\tt2\t1\n"u8);
        }

        var aggregator = new PlayAggregator(); // its row buffer is allocated here, outside the measure
        GC.Collect();
        var before = GC.GetTotalAllocatedBytes(precise: true);
        await PlayLogFile.ReadAsync(path, aggregator);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;
        var m = aggregator.Build();

        Assert.Equal(4, m.Report.RowsRead);
        Assert.Equal(3, m.Report.RowsKept);
        Assert.Equal(1, m.Report.BadRowsFor(BadRowReason.LineTooLong));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:2: line longer than"));
        Assert.True(allocated < 8 << 20, $"reading a {longLine >> 20} MiB line allocated {allocated >> 20} MiB");
    }

    [Fact]
    public async Task A_byte_order_mark_is_skipped_with_or_without_a_header()
    {
        using var dir = new TempDirectory();
        var bom = Encoding.UTF8.GetPreamble();
        var withHeader = Path.Combine(dir.Path, "h.tsv");
        await File.WriteAllBytesAsync(withHeader, [.. bom, .. "user_id\ttrack_id\tplays\nu1\tt1\t2\n"u8]);
        var noHeader = Path.Combine(dir.Path, "n.tsv");
        await File.WriteAllBytesAsync(noHeader, [.. bom, .. "u1\tt1\t2\n"u8]);

        foreach (var path in new[] { withHeader, noHeader })
        {
            var m = await ReadOneAsync(path);
            Assert.Equal(0, m.Report.BadRows);
            Assert.Equal(["u1"], m.Users.Ids);
            Assert.Equal(["t1"], m.Tracks.Ids);
        }
    }

    [Fact]
    public async Task Ids_that_are_not_utf8_are_counted_bad_rows_per_file()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "latin1.tsv");
        await File.WriteAllBytesAsync(path, [.. "u1\tt1\t1\n"u8, .. "caf"u8, 0xE9, .. "\tt1\t1\n"u8, .. "u2\tt"u8, 0xFF, .. "\t1\n"u8]);
        var m = await ReadOneAsync(path);
        Assert.Equal(["u1"], m.Users.Ids);
        Assert.Equal(2, m.Report.BadRows);
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:2: "));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:3: "));
        Assert.DoesNotContain(m.Users.Ids, id => id.Contains('\uFFFD'));
        Assert.Equal(2, m.Report.BadRowsFor(BadRowReason.InvalidUtf8));
        var tally = Assert.Single(m.Report.PerFile());
        Assert.Equal(path, tally.Path);
        Assert.Equal(3, tally.RowsRead);
        Assert.Equal(2, tally.BadRowsFor(BadRowReason.InvalidUtf8));
    }

    [Fact]
    public async Task Bad_row_examples_escape_control_characters_so_they_stay_one_line()
    {
        using var dir = new TempDirectory();
        var path = dir.File("esc.tsv", "u1\tt1\t3\u001b[2J\rforged\n");
        var m = await ReadOneAsync(path);
        var example = Assert.Single(m.Report.Examples);
        Assert.DoesNotContain(example, char.IsControl);
        Assert.Contains("\\u001b[2J\\rforged", example); // the shared escapes (Core.Text.ControlCharacters)
    }

    [Fact]
    public async Task Bad_rows_are_counted_per_file()
    {
        using var dir = new TempDirectory();
        dir.File("2026-11-01/a.tsv", "u1\tt1\t1\nbroken\n");
        dir.File("2026-11-01/b.tsv", "u2\tt1\t1\nu3\tt1\t-1\nu4\tt1\tNaN\n");
        var m = await SnapshotSet.Discover(dir.Path).ReadAsync(maxBadFraction: 1);
        var files = m.Report.PerFile();
        Assert.Equal([2L, 3L], files.Select(f => f.RowsRead));
        Assert.Equal(1, files[0].BadRowsFor(BadRowReason.MissingField));
        Assert.Equal(2, files[1].BadRowsFor(BadRowReason.BadPlays));
        Assert.Equal(2, m.Report.FilesWithBadRows().Count());
    }

    [Fact]
    public async Task A_fifo_named_like_a_play_file_is_skipped_with_a_warning_and_never_opened()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDirectory();
        dir.File("2026-11-01/a.tsv", "u1\tt1\t3\n");
        var fifo = Path.Combine(dir.Path, "2026-11-01", "plays.tsv");
        using (var mkfifo = Process.Start("mkfifo", [fifo])) await mkfifo.WaitForExitAsync();
        Directory.CreateDirectory(Path.Combine(dir.Path, "2026-11-01", "dir.tsv"));

        // A reader that opened the FIFO would block until a writer came: bounded here, it fails instead of hanging.
        var m = await Task.Run(() => SnapshotSet.Discover(dir.Path).ReadAsync()).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(3f, m.UserTrack.Values.Sum());
        var warning = Assert.Single(m.Report.Warnings);
        Assert.Contains(fifo, warning);
        Assert.Contains("a FIFO is not a regular file", warning);
        Assert.Contains("1 files skipped", m.Report.Summary());

        var directory = Path.Combine(dir.Path, "2026-11-01", "dir.tsv");
        Assert.Contains("a directory", (await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(directory))).Message);

        // Named directly, it is refused by name, not opened.
        var error = await Assert.ThrowsAnyAsync<Exception>(() => Task.Run(() => ReadOneAsync(fifo)).WaitAsync(TimeSpan.FromSeconds(20)));
        Assert.IsType<InvalidDataException>(error);
        Assert.Contains(fifo, error.Message);
        Assert.Contains("FIFO", error.Message);
    }

    [Fact]
    public async Task Cancellation_stops_a_read_in_the_middle_of_a_file()
    {
        using var dir = new TempDirectory();
        var path = dir.File("big.tsv", Rows(400_000));
        using var cts = new CancellationTokenSource();
        var sink = new CancellingSink(cts);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => PlayLogFile.ReadAsync(path, sink, cts.Token));
        Assert.True(sink.Rows < 400_000, $"{sink.Rows} rows were read after cancellation");
    }

    [Fact]
    public async Task Cancellation_returns_while_a_read_is_blocked()
    {
        using var release = new ManualResetEventSlim();
        using var stream = new BlockingStream("u1\tt1\t1\n"u8.ToArray(), release);
        using var cts = new CancellationTokenSource();
        var sink = new PlayAggregator();
        try
        {
            var reading = TsvPlayLogReader.ReadAsync(stream, "blocked", sink, cts.Token);
            Assert.True(stream.Blocked.Wait(TimeSpan.FromSeconds(10)), "the reader never reached the blocking read");
            var clock = Stopwatch.StartNew();
            cts.Cancel();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10)));
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"cancellation took {clock.Elapsed}");
        }
        finally
        {
            release.Set(); // the abandoned read returns, and its thread ends
        }
    }

    /// <summary>Gives its bytes, then blocks in Read (as a stalled disk would) until released.</summary>
    private sealed class BlockingStream(byte[] first, ManualResetEventSlim release) : Stream
    {
        private bool _gave;
        public ManualResetEventSlim Blocked { get; } = new();
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (!_gave)
            {
                _gave = true;
                first.CopyTo(buffer, offset);
                return first.Length;
            }
            Blocked.Set();
            release.Wait(TimeSpan.FromSeconds(60));
            return 0;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        protected override void Dispose(bool disposing)
        {
            if (disposing) Blocked.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Cancels its token at the first row.</summary>
    private sealed class CancellingSink(CancellationTokenSource cts) : IPlaySink
    {
        public int Rows;
        public void FileStarted(string path) { }
        public void Add(ReadOnlySpan<char> user, ReadOnlySpan<char> track, double plays, string file, long line)
        {
            Rows++;
            cts.Cancel();
        }
        public void BadRow(BadRowReason reason, string file, long line, string detail) { }
    }

    [Fact]
    public async Task A_corrupt_parquet_page_fails_naming_the_file()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "plays.parquet");
        var n = 5000;
        await ParquetPlayLogReader.WriteAsync(path, [.. Enumerable.Range(0, n).Select(i => $"user-{i}")], [.. Enumerable.Range(0, n).Select(i => $"track-{i % 50}")],
            Enumerable.Range(0, n).Select(i => i % 7 + 1).ToArray());
        var bytes = await File.ReadAllBytesAsync(path);
        var failures = 0;
        // Damage the data pages (not the footer) at a few places: each read either fails naming the file or, where the
        // damage only changed values, reads rows.
        foreach (var at in new[] { 40, 200, bytes.Length / 4, bytes.Length / 3 })
        {
            var damaged = (byte[])bytes.Clone();
            for (var i = at; i < at + 24; i++) damaged[i] = 0xFF;
            await File.WriteAllBytesAsync(path, damaged);
            try
            {
                await ReadOneAsync(path);
            }
            catch (InvalidDataException e)
            {
                Assert.Contains(path, e.Message);
                failures++;
            }
        }
        Assert.True(failures > 0);
    }

    [Fact]
    public async Task A_string_plays_column_is_described_in_words()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "strings.parquet");
        var user = new DataField<string>(ParquetPlayLogReader.UserColumn);
        var track = new DataField<string>(ParquetPlayLogReader.TrackColumn);
        var plays = new DataField<string>(ParquetPlayLogReader.PlaysColumn);
        await using (var stream = File.Create(path))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(user, track, plays), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync(user, new[] { "u1" }, null);
            await group.WriteAsync(track, new[] { "t1" }, null);
            await group.WriteAsync(plays, new[] { "3" }, null);
        }
        var error = await Assert.ThrowsAsync<InvalidDataException>(() => ReadOneAsync(path));
        Assert.Contains(path, error.Message);
        Assert.Contains("'plays'", error.Message);
        Assert.Contains("holds strings", error.Message);
        Assert.DoesNotContain("`", error.Message); // no internal type name (ReadOnlyMemory`1)
        Assert.Contains("int32, int64, float or double", error.Message);
    }

    [Fact]
    public async Task Parquet_ids_with_tabs_newlines_or_control_characters_are_bad_rows()
    {
        using var dir = new TempDirectory();
        var path = Path.Combine(dir.Path, "ids.parquet");
        await ParquetPlayLogReader.WriteAsync(path, ["ok", "a\tb", "c\nd", "e\rf", "g\u0001h", "ok"], ["t1", "t1", "t1", "t1", "t1", "t\u001b2"], new[] { 1, 1, 1, 1, 1, 1 });
        var m = await ReadOneAsync(path);
        Assert.Equal(["ok"], m.Users.Ids);
        Assert.Equal(["t1"], m.Tracks.Ids);
        Assert.Equal(5, m.Report.BadRowsFor(BadRowReason.ControlCharacter));
        foreach (var row in new[] { 2, 3, 4, 5, 6 }) Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:{row}: "));
    }
}

/// <summary>Tests that measure allocation across the process run alone.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AllocationMeasuringCollection
{
    public const string Name = "allocation measuring";
}
