using RecService.Core.Sparse;
using RecService.Core.Vectors;

namespace RecService.Core.Bundle;

/// <summary>
/// A user's most played artists: plays summed over each artist's tracks, the best <see cref="PerUser"/> kept (ties
/// prefer the smaller artist). Bundles store them per user (<see cref="BundleFiles.UserArtists"/>), so explaining a
/// list ("because you listen to X") reads eight entries instead of passing over the whole listening history, whose
/// tracks are scattered over the catalog; a replica recomputes them with <see cref="Top"/> only for fresh plays.
/// </summary>
public static class UserArtists
{
    public const int PerUser = 8;

    /// <summary>
    /// The most played artists of a history given as each play's artist and count, most played first, into
    /// <paramref name="top"/> (at most its length, at most <see cref="PerUser"/>) with their totals in
    /// <paramref name="topPlays"/>; returns how many. A count of zero or less still counts as a play (it is in the history).
    /// </summary>
    /// <param name="totals">Scratch, one entry per artist, all zero; left all zero.</param>
    /// <param name="touched">Scratch, at least as long as <paramref name="artists"/>.</param>
    public static int Top(ReadOnlySpan<int> artists, ReadOnlySpan<float> plays, Span<float> totals, Span<int> touched, Span<int> top, Span<float> topPlays)
    {
        if (plays.Length < artists.Length || touched.Length < artists.Length) throw new ArgumentException("plays and touched must cover artists.");
        var distinct = 0;
        for (var k = 0; k < artists.Length; k++)
        {
            var artist = artists[k];
            if (totals[artist] == 0) touched[distinct++] = artist;
            totals[artist] += Math.Max(plays[k], float.Epsilon);
        }
        var keep = Math.Min(Math.Min(top.Length, topPlays.Length), PerUser);
        var best = new TopK(topPlays[..keep], top[..keep]);
        for (var i = 0; i < distinct; i++)
        {
            best.Add(totals[touched[i]], touched[i]);
            totals[touched[i]] = 0;
        }
        return best.SortDescending();
    }

    /// <summary>A stored row (artists ascending, their plays) most played first into <paramref name="top"/>; returns how many.</summary>
    public static int Ranked(ReadOnlySpan<int> artists, ReadOnlySpan<float> plays, Span<int> top)
    {
        var n = Math.Min(Math.Min(artists.Length, plays.Length), PerUser);
        Span<float> ranked = stackalloc float[PerUser];
        // Insertion by plays, descending; the row is ascending by artist, so an equal count stays behind the smaller
        // artist already placed (the tie rule of Top). A row is at most PerUser long: the sort is a few compares.
        for (var i = 0; i < n; i++)
        {
            float count = plays[i];
            int j = i;
            for (; j > 0 && ranked[j - 1] < count; j--)
            {
                ranked[j] = ranked[j - 1];
                if (j < top.Length) top[j] = top[j - 1];
            }
            ranked[j] = count;
            if (j < top.Length) top[j] = artists[i];
        }
        return Math.Min(n, top.Length);
    }

    /// <summary>Every user's top artists as a users x artists matrix (columns ascending per row, values = plays).</summary>
    public static CsrMatrix Compute(CsrMatrix played, IReadOnlyList<int> trackArtist, int artistCount)
    {
        var totals = new float[artistCount];
        var artists = new int[64];
        var touched = new int[64];
        Span<int> top = stackalloc int[PerUser];
        Span<float> topPlays = stackalloc float[PerUser];
        var pointers = new int[played.Rows + 1];
        var columns = new List<int>(played.Rows * 4);
        var values = new List<float>(played.Rows * 4);
        for (var user = 0; user < played.Rows; user++)
        {
            var tracks = played.RowIndices(user);
            if (artists.Length < tracks.Length)
            {
                artists = new int[tracks.Length];
                touched = new int[tracks.Length];
            }
            for (var k = 0; k < tracks.Length; k++) artists[k] = trackArtist[tracks[k]];
            var n = Top(artists.AsSpan(0, tracks.Length), played.RowValues(user), totals, touched, top, topPlays);
            // CSR rows hold their columns ascending; readers rank by value.
            top[..n].Sort(topPlays[..n]);
            columns.AddRange(top[..n]);
            values.AddRange(topPlays[..n]);
            pointers[user + 1] = columns.Count;
        }
        return new CsrMatrix(played.Rows, artistCount, pointers, columns.ToArray(), values.ToArray());
    }
}
