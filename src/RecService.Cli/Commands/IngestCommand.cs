using System.CommandLine;
using System.Diagnostics;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;

namespace RecService.Cli.Commands;

/// <summary><c>rec ingest</c>: reads snapshot logs as training would, and reports rows, bad rows and speed.</summary>
public static class IngestCommand
{
    public static Command Create()
    {
        var snapshots = new Option<string>("--snapshots") { Description = "Directory of yyyy-MM-dd snapshot folders", Required = true };
        var catalog = new Option<string?>("--catalog") { Description = "Directory with tracks.tsv and artists.tsv (unknown tracks become bad rows)" };
        var days = new Option<int>("--days") { Description = "Window: only the last N days (0 = all)", DefaultValueFactory = _ => 0 };
        var maxBad = new Option<double>("--max-bad-fraction") { Description = "Fail when more than this fraction of rows is bad", DefaultValueFactory = _ => 0.01 };

        var command = new Command("ingest", "Read snapshot play logs into user x track (and user x artist) matrices and report what was found.")
        {
            snapshots, catalog, days, maxBad,
        };
        command.SetAction(async (parse, ct) =>
        {
            try
            {
                return await RunAsync(parse, snapshots, catalog, days, maxBad, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return Cancelled("ingest cancelled");
            }
        });
        return command;
    }

    /// <summary>SIGTERM or Ctrl+C stopped the command: one line and exit code 130 (128 + SIGINT), no stack trace.</summary>
    internal static int Cancelled(string message)
    {
        Console.Error.WriteLine($"rec: {message}");
        return 130;
    }

    private static async Task<int> RunAsync(ParseResult parse, Option<string> snapshots, Option<string?> catalog, Option<int> days, Option<double> maxBad, CancellationToken ct)
    {
        var set = SnapshotSet.Discover(parse.GetValue(snapshots)!);
        var catalogDir = parse.GetValue(catalog);
        var clock = Stopwatch.StartNew();
        var cat = catalogDir is null ? null : TrackCatalog.Load(catalogDir);
        var catalogSeconds = clock.Elapsed.TotalSeconds;
        var window = set.Window(parse.GetValue(days));
        clock.Restart();
        var matrices = await set.ReadAsync(window, cat, parse.GetValue(maxBad), ct);
        var seconds = clock.Elapsed.TotalSeconds;
        var report = matrices.Report;
        Console.WriteLine($"Snapshots {window[0].Date:yyyy-MM-dd} .. {window[^1].Date:yyyy-MM-dd} ({window.Count} of {set.Snapshots.Count})");
        Console.WriteLine($"  {report.Summary()}");
        foreach (var warning in report.Warnings) Console.WriteLine($"  warning: {warning}");
        foreach (var example in report.Examples) Console.WriteLine($"  bad: {example}");
        foreach (var file in report.FilesWithBadRows()) Console.WriteLine($"  bad rows in {file}");
        Console.WriteLine($"  users x tracks: {matrices.UserTrack.Rows} x {matrices.UserTrack.Columns}, {matrices.UserTrack.NonZeros} non-zeros");
        if (matrices.UserArtist is { } ua) Console.WriteLine($"  users x artists: {ua.Rows} x {ua.Columns}, {ua.NonZeros} non-zeros");
        if (cat is not null) Console.WriteLine($"  catalog: {cat.TrackCount} tracks, {cat.ArtistCount} artists in {catalogSeconds:F2} s");
        Console.WriteLine($"  read and aggregated in {seconds:F2} s: {report.RowsRead / seconds / 1e6:F2} M rows/s (one thread)");
        return 0;
    }
}
