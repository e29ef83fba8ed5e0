using RecService.Core.Bundle;
using RecService.Core.Vectors;
using RecService.Models.Als;

namespace RecService.Serving.Recommendations.Sources;

/// <summary>A known user's trained vector from the tracks part against its dot forest (maximum inner product).</summary>
public sealed class ModelSource(RecommendationEngine engine) : ICandidateSource
{
    public string Name => "model";
    public int Order => 300;

    public void Prefetch(ModelBundle bundle, int user) => VectorMath.Prefetch(AlsParts.Of(bundle).Tracks.UserFactors.Row(user));

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores) =>
        context.User < 0
            ? 0
            : engine.RecommendFor(context.Bundle, AlsParts.Of(context.Bundle).Tracks.UserFactors.Row(context.User), context.Played, context.Excluded, ids, scores);
}
