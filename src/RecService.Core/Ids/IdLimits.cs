using System.Text;

namespace RecService.Core.Ids;

/// <summary>How long an id (user, track, artist, station) may be, the same for ingest and every RPC: an id the logs
/// can hold is one a request can name.</summary>
public static class IdLimits
{
    /// <summary>Longest id, in UTF-8 bytes.</summary>
    public const int MaxUtf8Bytes = 256;

    /// <summary>Whether <paramref name="id"/> is at most <see cref="MaxUtf8Bytes"/> in UTF-8. A UTF-16 unit is 1 to 3
    /// UTF-8 bytes, so ids of up to a third of the bound pass on their length alone and bytes are counted only near it.</summary>
    public static bool Fits(ReadOnlySpan<char> id) =>
        id.Length <= MaxUtf8Bytes / 3 || (id.Length <= MaxUtf8Bytes && Encoding.UTF8.GetByteCount(id) <= MaxUtf8Bytes);
}
