using RecService.Core.Files;
using System.Globalization;
using RecService.Ingest.Catalog;
using RecService.Ingest.Files;

namespace RecService.Ingest.Logs;

/// <summary>One dated snapshot: a directory <c>yyyy-MM-dd</c> holding play files.</summary>
public sealed record Snapshot(DateOnly Date, string Directory, IReadOnlyList<string> Files);

/// <summary>
/// The snapshots under a root (<c>root/2026-11-20/</c> holding files of the <see cref="PlayLogFormats"/>), oldest
/// first, and reading a window of them into play matrices. Directories whose name is not a date are ignored, so
/// a writer can stage a snapshot under a temporary name and rename it when complete.
/// </summary>
public sealed class SnapshotSet
{
    public const string DateFormat = "yyyy-MM-dd";

    private readonly PlayLogFormats _formats;

    private readonly IReadOnlyList<(DateOnly Date, string Warning)> _skipped;

    private SnapshotSet(string root, IReadOnlyList<Snapshot> snapshots, PlayLogFormats formats, IReadOnlyList<(DateOnly, string)> skipped)
    {
        Root = root;
        Snapshots = snapshots;
        _formats = formats;
        _skipped = skipped;
    }

    public string Root { get; }
    public IReadOnlyList<Snapshot> Snapshots { get; }
    public Snapshot? Latest => Snapshots.Count == 0 ? null : Snapshots[^1];

    /// <summary>The dated snapshots under <paramref name="root"/> with files of <paramref name="formats"/> (default <see cref="PlayLogFormats.Default"/>).</summary>
    public static SnapshotSet Discover(string root, PlayLogFormats? formats = null)
    {
        formats ??= PlayLogFormats.Default;
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"Snapshot directory not found: {root}");
        var snapshots = new List<Snapshot>();
        var skipped = new List<(DateOnly, string)>();
        foreach (var dir in Directory.EnumerateDirectories(root))
        {
            if (!DateOnly.TryParseExact(Path.GetFileName(dir), DateFormat, CultureInfo.InvariantCulture, DateTimeStyles.None, out var date)) continue;
            var files = new List<string>();
            foreach (var file in Directory.EnumerateFiles(dir).Where(formats.IsPlayFile).Order(StringComparer.Ordinal))
            {
                // A FIFO would block the reader until a writer came, a device would never end: never opened.
                if (FileKinds.NotRegular(file) is { } kind) skipped.Add((date, $"{file}: skipped, {kind} is not a regular file"));
                else files.Add(file);
            }
            if (files.Count > 0) snapshots.Add(new Snapshot(date, dir, files));
        }
        snapshots.Sort((a, b) => a.Date.CompareTo(b.Date));
        return new SnapshotSet(root, snapshots, formats, skipped);
    }

    /// <summary>The snapshots within <paramref name="days"/> days of the latest (all when days &lt;= 0).</summary>
    public IReadOnlyList<Snapshot> Window(int days)
    {
        if (days <= 0 || Latest is null) return Snapshots;
        var first = Latest.Date.AddDays(-(days - 1));
        return Snapshots.Where(s => s.Date >= first).ToList();
    }

    /// <summary>Reads the given snapshots (or the whole set) into play matrices; fails if too many rows are bad or a file
    /// cannot be read. Files skipped at discovery (not regular files) are listed in the report's warnings.</summary>
    public Task<PlayMatrices> ReadAsync(IReadOnlyList<Snapshot>? window = null, TrackCatalog? catalog = null, double maxBadFraction = PlayReadOptions.DefaultMaxBadFraction, CancellationToken ct = default) =>
        ReadAsync(window, catalog, new PlayReadOptions { MaxBadFraction = maxBadFraction }, ct);

    /// <summary>Reads as the overload above, with the session gap and recency weighting of <paramref name="options"/>.</summary>
    public async Task<PlayMatrices> ReadAsync(IReadOnlyList<Snapshot>? window, TrackCatalog? catalog, PlayReadOptions options, CancellationToken ct = default)
    {
        window ??= Snapshots;
        if (window.Count == 0) throw new InvalidDataException($"No snapshots (yyyy-MM-dd directories with {_formats.Describe()} files) under {Root}.");
        var aggregator = new PlayAggregator(catalog, options);
        var newest = window.Max(s => s.Date);
        foreach (var (date, warning) in _skipped)
        {
            if (date >= window[0].Date && date <= window[^1].Date) aggregator.Report.Warn(warning);
        }
        foreach (var snapshot in window)
        {
            aggregator.StartSnapshot(newest.DayNumber - snapshot.Date.DayNumber);
            foreach (var file in snapshot.Files) await _formats.ReadAsync(file, aggregator, ct);
        }
        aggregator.Report.ThrowIfTooManyBad(options.MaxBadFraction);
        return aggregator.Build();
    }
}

/// <summary>Reads one named play file with the <see cref="PlayLogFormats.Default"/> formats.</summary>
public static class PlayLogFile
{
    /// <summary>Reads <paramref name="path"/> by its extension; one no format lists is read as TSV.</summary>
    public static Task ReadAsync(string path, IPlaySink sink, CancellationToken ct = default) => PlayLogFormats.Default.ReadAsync(path, sink, ct);

    /// <summary>Reads a single interactions file (<c>user&lt;TAB&gt;item&lt;TAB&gt;value</c>) with no catalog, as <c>rec eval</c> takes.</summary>
    public static async Task<PlayMatrices> ReadInteractionsAsync(string path, double maxBadFraction = 0.01, CancellationToken ct = default)
    {
        var aggregator = new PlayAggregator();
        await ReadAsync(path, aggregator, ct);
        aggregator.Report.ThrowIfTooManyBad(maxBadFraction);
        return aggregator.Build();
    }
}
