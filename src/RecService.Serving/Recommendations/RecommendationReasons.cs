using System.Numerics.Tensors;
using RecService.Core.Bundle;
using RecService.Core.Vectors;

namespace RecService.Serving.Recommendations;

/// <summary>
/// "Because you listen to X": for each recommended track, the artist among the user's most played ones whose
/// vector (the users x artists model) is closest by cosine to the track's artist. A track by an artist the user
/// plays is explained by that artist itself (cosine 1). Per-thread buffers; nothing allocated per call.
/// </summary>
public sealed class RecommendationReasons
{
    /// <summary>How many of the user's most played artists are candidates for a reason.</summary>
    public const int CandidateArtists = 8;

    [ThreadStatic] private static float[]? t_artistPlays;
    [ThreadStatic] private static int[]? t_touched;

    /// <summary>
    /// The user's most played artists (summing plays over their tracks), most played first, into <paramref name="artists"/>
    /// (at most its length); returns how many.
    /// </summary>
    public int TopArtists(ModelBundle bundle, ReadOnlySpan<int> tracks, ReadOnlySpan<float> plays, Span<int> artists)
    {
        var catalog = bundle.Catalog;
        var totals = t_artistPlays is { } p && p.Length >= catalog.ArtistCount ? p : t_artistPlays = new float[catalog.ArtistCount];
        var touched = t_touched is { } t && t.Length >= tracks.Length ? t : t_touched = new int[Math.Max(tracks.Length, 64)];
        var distinct = 0;
        for (var k = 0; k < tracks.Length; k++)
        {
            var artist = catalog.ArtistOf(tracks[k]);
            if (totals[artist] == 0) touched[distinct++] = artist;
            totals[artist] += Math.Max(plays[k], float.Epsilon);
        }
        Span<float> topScores = stackalloc float[Math.Min(artists.Length, CandidateArtists)];
        var top = new TopK(topScores, artists[..topScores.Length]);
        for (var i = 0; i < distinct; i++)
        {
            top.Add(totals[touched[i]], touched[i]);
            totals[touched[i]] = 0; // leave the buffer all-zero for the next call
        }
        return top.SortDescending();
    }

    /// <summary>
    /// For each of <paramref name="recommended"/>, the artist of <paramref name="listened"/> most similar to the
    /// track's artist, into <paramref name="reasons"/> (-1 when the user has no artists).
    /// </summary>
    public void Explain(ModelBundle bundle, ReadOnlySpan<int> listened, ReadOnlySpan<int> recommended, Span<int> reasons)
    {
        // The artist forest stores 1/|y| for every artist, so the candidates' norms are read, not recomputed.
        Span<float> inverseNorms = stackalloc float[listened.Length];
        for (var i = 0; i < listened.Length; i++) inverseNorms[i] = bundle.ArtistCosine.InverseNorm(listened[i]);
        for (var r = 0; r < recommended.Length; r++)
        {
            var artist = bundle.Catalog.ArtistOf(recommended[r]);
            // A track by an artist the user plays is explained by that artist (cosine 1, the best possible): no dot products.
            if (listened.Contains(artist))
            {
                reasons[r] = artist;
                continue;
            }
            var best = -1;
            var bestScore = float.NegativeInfinity;
            var vector = bundle.ArtistFactors.Row(artist);
            for (var i = 0; i < listened.Length; i++)
            {
                // Cosine up to the track artist's norm, which is common to all candidates.
                var score = TensorPrimitives.Dot(vector, bundle.ArtistFactors.Row(listened[i])) * inverseNorms[i];
                if (score > bestScore)
                {
                    bestScore = score;
                    best = listened[i];
                }
            }
            reasons[r] = best;
        }
    }
}
