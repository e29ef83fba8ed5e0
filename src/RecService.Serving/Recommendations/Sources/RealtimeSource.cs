using System.Buffers;
using RecService.Serving.Taste;

namespace RecService.Serving.Recommendations.Sources;

/// <summary>
/// With fresh plays of tracks the model knows: the user's vector folded in from all their plays by one exact ALS
/// half-step (<see cref="TasteFoldIn"/>), searched like a trained vector.
/// </summary>
public sealed class RealtimeSource(RecommendationEngine engine, TasteFoldIn foldIn) : ICandidateSource
{
    public string Name => "realtime";
    public int Order => 100;

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores)
    {
        if (context.FreshKnown == 0) return 0;
        var bundle = context.Bundle;
        var vector = ArrayPool<float>.Shared.Rent(bundle.Factors);
        try
        {
            var x = vector.AsSpan(0, bundle.Factors);
            if (!foldIn.FoldIn(bundle, context.Tracks, context.Plays, x)) return 0;
            return engine.RecommendFor(bundle, x, context.Played, context.Excluded, ids, scores);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(vector);
        }
    }
}
