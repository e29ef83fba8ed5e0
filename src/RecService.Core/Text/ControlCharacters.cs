using System.Runtime.CompilerServices;
using System.Buffers;
using System.Text;

namespace RecService.Core.Text;

/// <summary>
/// Control characters from outside (an id, a file name, a line of input) written as escapes, so text put in a log
/// line, an error message or a report stays one line that says what was there and cannot forge lines or drive a
/// terminal. C0, DEL, C1 and the Unicode line and paragraph separators count.
/// </summary>
public static class ControlCharacters
{
    private static readonly SearchValues<char> Controls = SearchValues.Create(
        [.. Enumerable.Range(0, 0x20).Select(c => (char)c), .. Enumerable.Range(0x7F, 0x21).Select(c => (char)c), '\u2028', '\u2029']);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsControl(char c) => c < 0x20 || (uint)(c - 0x7F) <= 0x20 || c is '\u2028' or '\u2029';

    /// <summary>Whether <paramref name="value"/> holds one. Short values (ids: ingest asks this twice per row) are
    /// scanned directly, where the vectorized search's set-up costs more than the scan.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Any(ReadOnlySpan<char> value)
    {
        if (value.Length > 32) return value.ContainsAny(Controls);
        foreach (var c in value)
            if (IsControl(c)) return true;
        return false;
    }

    /// <summary><paramref name="value"/> with its control characters escaped (<c>\n</c>, <c>\r</c>, <c>\t</c>,
    /// <c>\uXXXX</c>); the same instance when it has none. <paramref name="keepNewlines"/> leaves LF as it is (for text
    /// that is several lines on purpose, such as a stack trace).</summary>
    public static string Escape(string value, bool keepNewlines = false)
    {
        var first = value.AsSpan().IndexOfAny(Controls);
        if (first < 0) return value;
        var text = new StringBuilder(value.Length + 16).Append(value, 0, first);
        for (var i = first; i < value.Length; i++)
        {
            var c = value[i];
            if (!Controls.Contains(c) || (keepNewlines && c == '\n')) text.Append(c);
            else text.Append(c switch
            {
                '\n' => @"\n",
                '\r' => @"\r",
                '\t' => @"\t",
                _ => $@"\u{(int)c:x4}",
            });
        }
        return text.ToString();
    }

    /// <summary>At most <paramref name="maxChars"/> characters of <paramref name="value"/> (never half a surrogate pair),
    /// escaped, with "..." when cut: a value from outside quoted in a message.</summary>
    public static string Quote(string value, int maxChars = 64)
    {
        if (value.Length <= maxChars) return Escape(value);
        var cut = char.IsHighSurrogate(value[maxChars - 1]) ? maxChars - 1 : maxChars;
        return Escape(value[..cut]) + "...";
    }
}
