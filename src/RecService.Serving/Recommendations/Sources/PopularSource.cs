namespace RecService.Serving.Recommendations.Sources;

/// <summary>The most played tracks: the last source, for a user the model has not seen and no other source could place.</summary>
public sealed class PopularSource(RecommendationEngine engine) : ICandidateSource
{
    public string Name => "popular";
    public int Order => 1000;
    public bool IsFallback => true;

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores) =>
        context.User >= 0 ? 0 : engine.Popular(context.Bundle, context.Excluded, ids, scores);
}
