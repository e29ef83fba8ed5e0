using RecService.Core.Files;
using RecService.Core.Text;
using System.IO.Hashing;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace RecService.Core.Bundle;

/// <summary>One file of a bundle: its name, size and XxHash3 (hex), checked before a replica swaps the bundle in.</summary>
public sealed record BundleFileEntry(string Name, long Bytes, string Xxh3);

/// <summary>
/// One model part as the manifest lists it: its family, id spaces, files by role, typed parameters and metrics.
/// Rows and items name an id space: <c>users</c>, <c>tracks</c>, <c>artists</c> (the catalog's), or an <c>.ids</c> file of
/// the bundle (the part's own). Files are named <c>&lt;part&gt;.&lt;role&gt;.&lt;ext&gt;</c>.
/// </summary>
public sealed record BundlePartEntry
{
    public string Name { get; init; } = "";
    public string Family { get; init; } = "";
    /// <summary>The id space of the part's rows (e.g. users); null when the part has no row matrix.</summary>
    public string? Rows { get; init; }
    public string Items { get; init; } = "";
    public SortedDictionary<string, string> Matrices { get; init; } = [];
    public SortedDictionary<string, string> Forests { get; init; } = [];
    public SortedDictionary<string, string> Extras { get; init; } = [];
    /// <summary>Sparse matrices by role (<c>.csr</c> files), one row per item (e.g. an artist's tag weights).</summary>
    public SortedDictionary<string, string> Sparse { get; init; } = [];
    /// <summary>The family's typed hyperparameters (a JSON object the family deserializes into its record).</summary>
    public JsonElement Parameters { get; init; }
    /// <summary>Held-out evaluation of this part (names from the model contract, e.g. "precision@10").</summary>
    public SortedDictionary<string, double> Metrics { get; init; } = [];

    /// <summary>Every file this part names.</summary>
    public IEnumerable<string> FileNames() => Matrices.Values.Concat(Forests.Values).Concat(Extras.Values).Concat(Sparse.Values)
        .Concat(new[] { Rows, Items }.OfType<string>().Where(IdSpaces.IsFile));
}

/// <summary>
/// <c>manifest.json</c>: what a bundle is and what it holds. Written last, so a bundle directory without a
/// manifest is incomplete by definition.
/// </summary>
public sealed record BundleManifest
{
    public const string FileName = "manifest.json";
    public const int CurrentFormatVersion = 2;

    /// <summary>The largest manifest read (a real one is a few KB).</summary>
    public const long MaxBytes = 16 << 20;

    public int FormatVersion { get; init; } = CurrentFormatVersion;
    public string ModelVersion { get; init; } = "";
    public DateTimeOffset CreatedUtc { get; init; }
    /// <summary>Facts of the run, as text (window, seed, hold-out, forest settings, the worker's snapshot signature, ...).</summary>
    public SortedDictionary<string, string> Training { get; init; } = [];
    /// <summary>Data statistics (users, tracks, artists, plays, non-zeros, ...).</summary>
    public SortedDictionary<string, long> Data { get; init; } = [];
    /// <summary>Run-level metrics (e.g. "seconds.train"); each part carries its own evaluation.</summary>
    public SortedDictionary<string, double> Metrics { get; init; } = [];
    public List<BundlePartEntry> Parts { get; init; } = [];
    public List<BundleFileEntry> Files { get; init; } = [];

    /// <summary>How manifests (and parts' typed parameters) are written: camelCase, enums as names.</summary>
    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        Converters = { new JsonStringEnumConverter() },
        RespectRequiredConstructorParameters = true,
    };

    /// <summary>Run metrics and every part's metrics as one flat map, a part's named <c>&lt;part&gt;.&lt;metric&gt;</c>.</summary>
    public SortedDictionary<string, double> AllMetrics()
    {
        var all = new SortedDictionary<string, double>(Metrics, StringComparer.Ordinal);
        foreach (var part in Parts)
            foreach (var (name, value) in part.Metrics) all[Qualified(part.Name, name)] = value;
        return all;
    }

    /// <summary>A part's metric or parameter as bundle-wide flat maps name it: <c>&lt;part&gt;.&lt;name&gt;</c>.</summary>
    public static string Qualified(string part, string name) => $"{part}.{name}";

    /// <summary>Every part's typed parameters as flat text (<c>tracks.alpha</c>, ...), for people reading the model's info.</summary>
    public SortedDictionary<string, string> AllParameters()
    {
        var all = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in Parts)
            if (part.Parameters.ValueKind == JsonValueKind.Object)
                foreach (var p in part.Parameters.EnumerateObject())
                    all[Qualified(part.Name, p.Name)] = p.Value.ValueKind == JsonValueKind.String ? p.Value.GetString()! : p.Value.GetRawText();
        return all;
    }

    /// <summary>A part's metric, or null when the bundle has no such part or the part no such metric.</summary>
    public double? PartMetric(string part, string metric) =>
        Parts.FirstOrDefault(p => p.Name == part) is { } entry && entry.Metrics.TryGetValue(metric, out var value) ? value : null;

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static BundleManifest Read(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var entry = FileIdentity.OfPath(path, followLinks: true);
        if (entry.Kind == FileKind.Missing) throw new InvalidDataException($"{directory}: no {FileName} (an incomplete bundle).");
        // A manifest lists files and facts: a few KB. A FIFO or a huge file there is refused before it is opened.
        if (entry.Kind != FileKind.Regular) throw new InvalidDataException($"{path}: not a regular file.");
        if (entry.Size > MaxBytes) throw new InvalidDataException($"{path}: {entry.Size} bytes, more than a manifest's {MaxBytes}.");
        BundleManifest? manifest;
        try
        {
            manifest = JsonSerializer.Deserialize<BundleManifest>(File.ReadAllText(path), Json);
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new InvalidDataException($"{path}: not a valid manifest: {ex.Message}", ex);
        }
        if (manifest is null) throw new InvalidDataException($"{path}: empty manifest.");
        if (manifest.FormatVersion != CurrentFormatVersion)
            throw new InvalidDataException($"{path}: bundle format {manifest.FormatVersion}, this build reads only format {CurrentFormatVersion}: " +
                                           "retrain (rec train, or let the worker run) to publish a bundle in the current format.");
        if (manifest.Problem() is { } problem) throw new InvalidDataException($"{path}: not a valid manifest: {problem}.");
        return manifest;
    }

    /// <summary>
    /// Checks every listed file's size and, when asked, its checksum (files hashed in parallel: this is most of a
    /// replica's start-up time); throws naming a mismatching file.
    /// </summary>
    public void VerifyFiles(string directory, bool checksums) => VerifyFiles(directory, checksums, out _);

    /// <summary><see cref="VerifyFiles(string, bool)"/>, handing back each file's identity as it was before its bytes were
    /// checked (the opener compares the files it maps against them: a write during the check shows as a change).</summary>
    internal void VerifyFiles(string directory, bool checksums, out Dictionary<string, FileIdentity> identities)
    {
        identities = new Dictionary<string, FileIdentity>(StringComparer.Ordinal);
        foreach (var entry in Files)
        {
            var path = Path.Combine(directory, entry.Name);
            if (entry.Name.Contains('/') || entry.Name.Contains('\\') || entry.Name.StartsWith('.'))
                throw new InvalidDataException($"{directory}: manifest lists an unsafe file name '{entry.Name}'.");
            var info = FileIdentity.OfPath(path, followLinks: true);
            if (info.Kind == FileKind.Missing) throw new InvalidDataException($"{path}: listed in the manifest but missing.");
            // A FIFO or device here would block or never end the mapping and hashing below.
            if (info.Kind != FileKind.Regular) throw new InvalidDataException($"{path}: not a regular file.");
            if (info.Size != entry.Bytes) throw new InvalidDataException($"{path}: {info.Size} bytes, manifest says {entry.Bytes}.");
            identities[entry.Name] = info;
        }
        if (!checksums) return;
        // Largest first, so the big forests don't end up serialized at the tail.
        string? mismatch;
        try
        {
            mismatch = Files.OrderByDescending(f => f.Bytes).AsParallel().WithDegreeOfParallelism(Environment.ProcessorCount)
                .Where(f => !string.Equals(Checksum(Path.Combine(directory, f.Name)), f.Xxh3, StringComparison.OrdinalIgnoreCase))
                .Select(f => f.Name).OrderBy(n => n, StringComparer.Ordinal).FirstOrDefault();
        }
        catch (AggregateException ex)
        {
            // PLINQ wraps what a file read threw; callers expect the I/O error itself.
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(ex.InnerExceptions[0]).Throw();
            throw;
        }
        if (mismatch is not null) throw new InvalidDataException($"{Path.Combine(directory, mismatch)}: checksum mismatch (corrupt or modified).");
    }

    public BundleFileEntry FileNamed(string name) =>
        Files.FirstOrDefault(f => f.Name == name) ?? throw new InvalidDataException($"Bundle {ModelVersion}: manifest does not list {name}.");

    /// <summary>
    /// What makes a deserialized manifest unusable (JSON nulls where the model has none, negative sizes, duplicate or
    /// unsafe file names, a model version that is no version name), or null. Checked at read, so everything after may
    /// rely on the shape.
    /// </summary>
    private string? Problem()
    {
        if (ModelVersion is null || !BundleStore.IsVersionName(ModelVersion)) return $"model version '{ControlCharacters.Quote(ModelVersion ?? "null")}' is not a version name";
        if (Training is null || Data is null || Metrics is null || Parts is null || Files is null) return "training, data, metrics, parts and files must be present (not null)";
        if (Training.Values.Any(v => v is null)) return "a training fact is null";
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var file in Files)
        {
            if (file?.Name is null || file.Xxh3 is null) return "a file entry without a name or checksum";
            if (file.Bytes < 0) return $"file {ControlCharacters.Quote(file.Name)} has {file.Bytes} bytes";
            if (file.Name.Length == 0 || file.Name.Contains('/') || file.Name.Contains('\\') || file.Name.StartsWith('.') || file.Name.Any(char.IsControl))
                return $"unsafe file name '{ControlCharacters.Quote(file.Name)}'";
            if (!names.Add(file.Name)) return $"file {file.Name} listed twice";
        }
        foreach (var part in Parts)
        {
            if (part is null) return "a part is null";
            if (part.Name is null || part.Family is null || part.Items is null) return "a part without a name, family or items";
            if (part.Matrices is null || part.Forests is null || part.Extras is null || part.Metrics is null) return $"part {ControlCharacters.Quote(part.Name)}: matrices, forests, extras and metrics must be present (not null)";
            if (part.Matrices.Values.Concat(part.Forests.Values).Concat(part.Extras.Values).Any(v => v is null)) return $"part {ControlCharacters.Quote(part.Name)} names a null file";
        }
        return null;
    }

    /// <summary>
    /// XxHash3-64 of a file's bytes, lower-case hex. Hashed straight from a read-only mapping: no copy through a
    /// stream buffer, and the pages it touches are the ones a replica serves from next (measured 12 ms for a
    /// 365 MB forest, against about 200 ms on a cold stream path).
    /// </summary>
    public static string Checksum(string path)
    {
        var hash = new XxHash3();
        if (new FileInfo(path).Length > 0)
        {
            using var file = MappedFile.Open(path);
            const int chunk = 1 << 30; // spans are int-sized
            for (long offset = 0; offset < file.Length; offset += chunk)
                hash.Append(file.Bytes(offset, Math.Min(chunk, file.Length - offset)));
        }
        return Convert.ToHexStringLower(hash.GetCurrentHash());
    }
}
