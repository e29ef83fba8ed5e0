using System.Buffers;
using RecService.Models.Als;

namespace RecService.Serving.Recommendations.Sources;

/// <summary>
/// With fresh plays of tracks the model knows: the user's vector folded in from all their plays by one exact ALS
/// half-step against the tracks part (<see cref="AlsFoldIn"/>), searched like a trained vector.
/// </summary>
public sealed class RealtimeSource(RecommendationEngine engine) : ICandidateSource
{
    public string Name => "realtime";
    public int Order => 100;

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores)
    {
        if (context.FreshKnown == 0) return 0;
        var tracks = AlsParts.Of(context.Bundle).Tracks;
        var vector = ArrayPool<float>.Shared.Rent(tracks.Factors);
        try
        {
            var x = vector.AsSpan(0, tracks.Factors);
            if (!tracks.FoldIn(context.Tracks, context.Plays, x)) return 0;
            return engine.RecommendFor(context.Bundle, x, context.Played, context.Excluded, ids, scores);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(vector);
        }
    }
}
