using RecService.Core.Bundle;
using RecService.Models.Similarity;

namespace RecService.Models.Bpr;

/// <summary>What defines a BPR part (the item vectors are published without the bias column, for similarity).</summary>
public sealed record BprParameters(int Factors, int Epochs, float LearningRate, float Regularization)
{
    public string? Problem() =>
        Factors is < 1 or > 1024 ? $"factors {Factors} not in 1..1024"
        : Epochs < 1 ? $"epochs {Epochs} not >= 1"
        : !(LearningRate > 0 && LearningRate <= 1) ? $"learning rate {LearningRate} not in (0, 1]"
        : !(Regularization >= 0 && Regularization < 1) ? $"regularization {Regularization} not in [0, 1)"
        : null;
}

/// <summary>
/// The second collaborative family: Bayesian personalised ranking fitted by gradient descent on the same plays as ALS,
/// a different view of them (a ranking loss over sampled unplayed items instead of weighted squares over all). Its
/// parts are item vectors and a cosine forest, served through <see cref="CosineVectors"/>.
/// </summary>
public sealed class BprFamily : IModelFamily
{
    public const string Name = "bpr";

    public static BprFamily Instance { get; } = new();

    public string Family => Name;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        var parameters = part.Parameters<BprParameters>();
        VectorFamily.Validate(bundle, part, Name, parameters.Factors, parameters.Problem());
    }
}
