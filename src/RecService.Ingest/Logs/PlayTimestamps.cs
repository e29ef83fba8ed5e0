using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text.Unicode;

namespace RecService.Ingest.Logs;

/// <summary>
/// A play's time as the logs write it: unix seconds (a whole number) or ISO 8601 with <c>Z</c> or an offset
/// (<c>2026-11-01T10:00:00Z</c>, <c>2026-11-01T10:00:00.5+02:00</c>); fractions of a second are dropped. A time with no
/// zone is refused: it could be any of 26 hours. Times before 1970 or after 9999 are refused too (milliseconds given as
/// seconds land there).
/// </summary>
public static class PlayTimestamps
{
    public const long MaxUnixSeconds = 253_402_300_799; // 9999-12-31T23:59:59Z
    private const int MaxChars = 40;

    private static readonly string[] IsoFormats = ["yyyy-MM-dd'T'HH:mm:ss.FFFFFFFzzz", "yyyy-MM-dd'T'HH:mm:ss.FFFFFFF'Z'"];

    /// <summary>Parses UTF-8 text (a TSV field) without allocating.</summary>
    public static bool TryParse(ReadOnlySpan<byte> utf8, out long unixSeconds)
    {
        if (Utf8Parser.TryParse(utf8, out unixSeconds, out var used) && used == utf8.Length) return InRange(unixSeconds);
        unixSeconds = 0;
        if (utf8.Length > MaxChars) return false;
        Span<char> chars = stackalloc char[MaxChars];
        if (Utf8.ToUtf16(utf8, chars, out _, out var n, replaceInvalidSequences: false) != OperationStatus.Done) return false;
        return TryParseIso(chars[..n], out unixSeconds);
    }

    /// <summary>Parses text (a Parquet string column).</summary>
    public static bool TryParse(ReadOnlySpan<char> text, out long unixSeconds)
    {
        if (long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out unixSeconds)) return InRange(unixSeconds);
        return TryParseIso(text, out unixSeconds);
    }

    public static bool InRange(long unixSeconds) => unixSeconds is >= 0 and <= MaxUnixSeconds;

    private static bool TryParseIso(ReadOnlySpan<char> text, out long unixSeconds)
    {
        unixSeconds = 0;
        if (text.Length > MaxChars || !DateTimeOffset.TryParseExact(text, IsoFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var time))
            return false;
        unixSeconds = time.ToUnixTimeSeconds();
        return InRange(unixSeconds);
    }
}
