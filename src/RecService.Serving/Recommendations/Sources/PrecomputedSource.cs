using System.Buffers;
using RecService.Serving.Precompute;

namespace RecService.Serving.Recommendations.Sources;

/// <summary>
/// The Discover list `rec precompute` stored for the user, when it was made by this model version, the user has no
/// fresh plays since, and it still fills the request after its exclusions.
/// </summary>
public sealed class PrecomputedSource : ICandidateSource
{
    public string Name => "precomputed";
    public int Order => 200;

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores)
    {
        if (context.StoredList is not { } stored || context.FreshKnown > 0) return 0;
        var bundle = context.Bundle;
        var tracks = ArrayPool<int>.Shared.Rent(RecommendationEngine.MaxCount);
        var values = ArrayPool<float>.Shared.Rent(RecommendationEngine.MaxCount);
        try
        {
            var n = PrecomputedList.Decode(stored, bundle.Version, tracks.AsSpan(0, RecommendationEngine.MaxCount), values.AsSpan(0, RecommendationEngine.MaxCount));
            var kept = 0;
            for (var i = 0; i < n && kept < ids.Length; i++)
            {
                if ((uint)tracks[i] >= (uint)bundle.Tracks.Count) return 0; // not a list of this model after all
                if (context.Excluded.Contains(tracks[i])) continue;
                ids[kept] = tracks[i];
                scores[kept++] = values[i];
            }
            return kept == ids.Length ? kept : 0;
        }
        finally
        {
            ArrayPool<int>.Shared.Return(tracks);
            ArrayPool<float>.Shared.Return(values);
        }
    }
}
