using RecService.Core.Bundle;
using RecService.Core.Vectors;

namespace RecService.Serving.Recommendations.Sources;

/// <summary>A known user's trained vector against the track part's dot forest (maximum inner product).</summary>
public sealed class ModelSource(RecommendationEngine engine) : ICandidateSource
{
    public string Name => "model";
    public int Order => 300;

    public void Prefetch(ModelBundle bundle, int user) => VectorMath.Prefetch(bundle.UserFactors.Row(user));

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores) =>
        context.User < 0 ? 0 : engine.RecommendFor(context.Bundle, context.Bundle.UserFactors.Row(context.User), context.Played, context.Excluded, ids, scores);
}
