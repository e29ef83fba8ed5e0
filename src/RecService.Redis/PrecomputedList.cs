using System.Buffers.Binary;
using System.Text;

namespace RecService.Redis;

/// <summary>
/// One user's precomputed Discover list as stored in Redis under <see cref="RedisKeys.PrecomputedList"/>, written by
/// `rec precompute` and read by replicas: the model version it was computed with and the tracks (dense indices of
/// that version) with scores, best first. Binary, little-endian:
/// "RSD1", u8 version length, version (UTF-8), i32 n, i32 tracks[n], f32 scores[n]. Indices are only meaningful
/// for the same model version, which is why a reader compares versions before using a list.
/// </summary>
public static class PrecomputedList
{
    /// <summary>The longest list worth storing: the most tracks one Recommend returns (the replica's RecommendationEngine.MaxCount).</summary>
    public const int MaxTracks = 500;
    private static ReadOnlySpan<byte> Magic => "RSD1"u8;

    public static byte[] Encode(string modelVersion, ReadOnlySpan<int> tracks, ReadOnlySpan<float> scores)
    {
        var version = Encoding.UTF8.GetBytes(modelVersion);
        if (version.Length > byte.MaxValue) throw new ArgumentException("Model version is too long.", nameof(modelVersion));
        var n = tracks.Length;
        var bytes = new byte[4 + 1 + version.Length + 4 + 8 * n];
        Magic.CopyTo(bytes);
        bytes[4] = (byte)version.Length;
        version.CopyTo(bytes, 5);
        var at = 5 + version.Length;
        BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at), n);
        at += 4;
        for (var i = 0; i < n; i++) BinaryPrimitives.WriteInt32LittleEndian(bytes.AsSpan(at + 4 * i), tracks[i]);
        at += 4 * n;
        for (var i = 0; i < n; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(at + 4 * i), scores[i]);
        return bytes;
    }

    /// <summary>
    /// Reads a list if it was computed for <paramref name="modelVersion"/>: copies up to <paramref name="tracks"/>.Length
    /// entries and returns how many; -1 when the bytes are not a list or belong to another version.
    /// </summary>
    public static int Decode(ReadOnlySpan<byte> bytes, string modelVersion, Span<int> tracks, Span<float> scores)
    {
        if (bytes.Length < 9 || !bytes.StartsWith(Magic)) return -1;
        int versionLength = bytes[4];
        if (bytes.Length < 5 + versionLength + 4) return -1;
        if (!Encoding.UTF8.GetString(bytes.Slice(5, versionLength)).Equals(modelVersion, StringComparison.Ordinal)) return -1;
        var at = 5 + versionLength;
        var n = BinaryPrimitives.ReadInt32LittleEndian(bytes[at..]);
        at += 4;
        if (n < 0 || bytes.Length != at + 8L * n) return -1;
        var take = Math.Min(n, Math.Min(tracks.Length, scores.Length));
        for (var i = 0; i < take; i++)
        {
            tracks[i] = BinaryPrimitives.ReadInt32LittleEndian(bytes[(at + 4 * i)..]);
            scores[i] = BinaryPrimitives.ReadSingleLittleEndian(bytes[(at + 4 * n + 4 * i)..]);
        }
        return take;
    }
}
