using System.Globalization;
using RecService.Ingest.Logs;

namespace RecService.Ingest.Tests;

public class PlayLogFormatsTests
{
    /// <summary>A format defined outside Ingest: <c>user,track,plays</c> lines, bad ones reported through the public sink.</summary>
    private sealed class CsvPlayLogReader : IPlayLogReader
    {
        public async Task ReadAsync(string path, IPlaySink sink, CancellationToken cancellationToken = default)
        {
            sink.FileStarted(path);
            var lines = await File.ReadAllLinesAsync(path, cancellationToken);
            for (var i = 0; i < lines.Length; i++)
            {
                var fields = lines[i].Split(',');
                if (fields.Length != 3) sink.BadRow(BadRowReason.Unreadable, path, i + 1, $"{fields.Length} fields, expected 3");
                else if (!double.TryParse(fields[2], CultureInfo.InvariantCulture, out var plays)) sink.BadRow(BadRowReason.BadPlays, path, i + 1, fields[2]);
                else sink.Add(fields[0], fields[1], plays, path, i + 1);
            }
        }
    }

    [Fact]
    public void The_default_formats_list_each_extension_once_and_pick_readers_by_extension()
    {
        var formats = PlayLogFormats.Default;
        Assert.Equal([".tsv", ".tsv.gz", ".parquet"], formats.Formats.Select(f => f.Extension));
        Assert.Equal(".tsv, .tsv.gz or .parquet", formats.Describe());
        Assert.Same(TsvPlayLogReader.Plain, formats.ReaderFor("a/plays.TSV"));
        Assert.Same(TsvPlayLogReader.Gzip, formats.ReaderFor("a/part-000.tsv.gz"));
        Assert.IsType<ParquetPlayLogReader>(formats.ReaderFor("a/part-001.parquet"));
        Assert.Null(formats.ReaderFor("a/notes.txt"));
        Assert.Null(formats.ReaderFor("a/plays.csv"));
        Assert.Throws<ArgumentException>(() => formats.With(new(".TSV", TsvPlayLogReader.Plain)));
    }

    [Fact]
    public async Task A_reader_defined_outside_ingest_is_discovered_and_reports_bad_rows_with_file_and_line()
    {
        using var dir = new TempDirectory();
        dir.File("2026-11-01/a.tsv", "u1\tt1\t1\n");
        var csv = dir.File("2026-11-01/b.csv", "u1,t1,2\nbroken line\nu2,t2,lots\nu2,t1,4\n");

        // The default formats do not know .csv: the file is not picked up.
        var plain = await SnapshotSet.Discover(dir.Path).ReadAsync();
        Assert.Equal(1f, plain.UserTrack.Values.Sum());

        var formats = PlayLogFormats.Default.With(new(".csv", new CsvPlayLogReader()));
        var set = SnapshotSet.Discover(dir.Path, formats);
        Assert.Equal(2, set.Latest!.Files.Count);
        var m = await set.ReadAsync(maxBadFraction: 0.5);

        Assert.Equal(7f, m.UserTrack.Values.Sum()); // 1 + 2 + 4
        Assert.Equal(2, m.Report.Files.Count);
        Assert.Equal(1, m.Report.BadRowsFor(BadRowReason.Unreadable));
        Assert.Equal(1, m.Report.BadRowsFor(BadRowReason.BadPlays));
        Assert.Contains($"{csv}:2: row could not be read: 1 fields, expected 3", m.Report.Examples);
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{csv}:3: plays") && e.EndsWith(": lots"));
    }
}
