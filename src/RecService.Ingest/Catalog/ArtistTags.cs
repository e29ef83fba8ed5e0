using System.Globalization;
using System.Text;
using RecService.Core.Files;
using RecService.Core.Ids;
using RecService.Core.Sparse;
using RecService.Core.Text;
using RecService.Ingest.Files;

namespace RecService.Ingest.Catalog;

/// <summary>
/// The tags listeners gave artists, from <c>catalog/artist_tags.tsv</c>: <c>artist_id&lt;TAB&gt;tag&lt;TAB&gt;weight</c>
/// (weight: how many applied it, a positive number; an optional header line <c>artist_id&lt;TAB&gt;...</c>). Tags are
/// trimmed and lower-cased, so "Jazz" and "jazz " are one tag, and weights of a repeated (artist, tag) add up. A bad row
/// (a missing field, an artist not in the catalog, a weight that is not a number in (0, 1e6], a tag that is empty, too
/// long, not valid UTF-8 or holding control characters, a line of 64 Ki characters or more) is counted with
/// <c>file:line</c>, never fatal.
/// </summary>
public sealed class ArtistTags
{
    public const string FileName = "artist_tags.tsv";
    /// <summary>Longest line read; a longer one is a bad row, skipped to its end without being buffered.</summary>
    public const int MaxLineChars = 1 << 16;
    public const double MaxWeight = 1e6;
    private const int MaxExamples = 10;

    private ArtistTags(IdMap tags, CsrMatrix applied, long rows, long badRows, IReadOnlyList<string> examples)
    {
        Tags = tags;
        Applied = applied;
        Rows = rows;
        BadRows = badRows;
        Examples = examples;
    }

    /// <summary>The distinct tags, in order of first appearance.</summary>
    public IdMap Tags { get; }
    /// <summary>Artists (catalog order) x tags: summed weights.</summary>
    public CsrMatrix Applied { get; }
    public long Rows { get; }
    public long BadRows { get; }
    /// <summary>The first bad rows as <c>file:line: reason</c>, control characters escaped.</summary>
    public IReadOnlyList<string> Examples { get; }

    /// <summary>Reads <paramref name="path"/> against <paramref name="catalog"/>'s artists. A file that cannot be read (missing,
    /// not a regular file) throws naming it.</summary>
    public static ArtistTags Load(string path, TrackCatalog catalog)
    {
        var tags = new IdMap();
        var artists = new List<int>();
        var tagIndices = new List<int>();
        var weights = new List<float>();
        var examples = new List<string>();
        long rows = 0, bad = 0;
        void Bad(long line, string reason)
        {
            bad++;
            if (examples.Count < MaxExamples) examples.Add(ControlCharacters.Escape($"{path}:{line}: {reason}"));
        }

        using var stream = InputFiles.OpenRead(path);
        using var reader = new StreamReader(stream, new UTF8Encoding(false, throwOnInvalidBytes: false), detectEncodingFromByteOrderMarks: true);
        var buffer = new char[MaxLineChars];
        long lineNumber = 0;
        while (ReadLine(reader, buffer, out var length, out var tooLong))
        {
            lineNumber++;
            if (tooLong)
            {
                rows++;
                Bad(lineNumber, $"line of {MaxLineChars} characters or more (skipped to its end)");
                continue;
            }
            var line = buffer.AsSpan(0, length).TrimEnd('\r');
            if (line.IsEmpty) continue;
            if (lineNumber == 1 && line.StartsWith("artist_id\t", StringComparison.Ordinal)) continue;
            rows++;
            var first = line.IndexOf('\t');
            var second = first < 0 ? -1 : line[(first + 1)..].IndexOf('\t');
            if (first <= 0 || second < 0)
            {
                Bad(lineNumber, "missing field (expected artist_id<TAB>tag<TAB>weight)");
                continue;
            }
            var artistId = line[..first];
            var tag = line.Slice(first + 1, second).Trim();
            var weightText = line[(first + second + 2)..];
            if (!catalog.Artists.TryGet(artistId, out var artist))
            {
                Bad(lineNumber, "artist not in the catalog");
                continue;
            }
            if (tag.IsEmpty || !IdLimits.Fits(tag) || ControlCharacters.Any(tag) || tag.Contains('\uFFFD'))
            {
                Bad(lineNumber, $"tag empty, longer than {IdLimits.MaxUtf8Bytes} UTF-8 bytes, not valid UTF-8 or holding a control character");
                continue;
            }
            if (!double.TryParse(weightText, NumberStyles.Float, CultureInfo.InvariantCulture, out var weight) || !(weight > 0 && weight <= MaxWeight))
            {
                Bad(lineNumber, $"weight is not a number in (0, {MaxWeight:G}]");
                continue;
            }
            artists.Add(artist);
            tagIndices.Add(tags.GetOrAdd(tag.ToString().ToLowerInvariant()));
            weights.Add((float)weight);
        }
        var applied = CsrMatrix.FromTriples(catalog.ArtistCount, tags.Count, artists.ToArray(), tagIndices.ToArray(), weights.ToArray());
        return new ArtistTags(tags, applied, rows, bad, examples);
    }

    /// <summary>The next line into <paramref name="buffer"/> (without its LF); a longer line is read to its end and
    /// reported as <paramref name="tooLong"/>. False at the end of the input.</summary>
    private static bool ReadLine(StreamReader reader, char[] buffer, out int length, out bool tooLong)
    {
        length = 0;
        tooLong = false;
        var any = false;
        int c;
        while ((c = reader.Read()) >= 0)
        {
            any = true;
            if (c == '\n') return true;
            if (length < buffer.Length) buffer[length++] = (char)c;
            else tooLong = true;
        }
        return any;
    }
}
