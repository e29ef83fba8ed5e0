namespace RecService.Models.Als;

/// <summary>How a play count becomes a confidence weight c (Hu, Koren, Volinsky 2008, section 4).</summary>
public enum ConfidenceScaling
{
    /// <summary>c = 1 + alpha * plays.</summary>
    Linear,

    /// <summary>c = 1 + alpha * log(1 + plays / epsilon): damps heavy listeners whose counts run to the thousands.</summary>
    Log,
}

/// <summary>
/// What defines an implicit-ALS model (as opposed to how it was fitted): written as the part's typed parameters, read
/// back by the replica for fold-in. The confidence function lives here once, for the trainer and for fold-in.
/// Defaults: see Training/Als/ALS.md for the sweep behind them.
/// </summary>
public sealed record AlsParameters(int Factors, float Regularization, float Alpha, ConfidenceScaling Scaling, float LogEpsilon)
{
    public static AlsParameters Defaults { get; } = new(64, 10f, 4f, ConfidenceScaling.Log, 1f);

    /// <summary>c - 1 for a play count: alpha * plays, or alpha * log(1 + plays / epsilon).</summary>
    public float ExtraConfidence(float plays) => Scaling == ConfidenceScaling.Linear ? Alpha * plays : Alpha * MathF.Log(1f + plays / LogEpsilon);

    /// <summary>What is wrong with these values, or null.</summary>
    public string? Problem() =>
        Factors is < 1 or > 1024 ? $"factors {Factors} not in 1..1024"
        : !(Regularization >= 0) || float.IsInfinity(Regularization) ? $"regularization {Regularization} not finite and >= 0"
        : !(Alpha >= 0) || float.IsInfinity(Alpha) ? $"alpha {Alpha} not finite and >= 0"
        : !(LogEpsilon > 0) || float.IsInfinity(LogEpsilon) ? $"log epsilon {LogEpsilon} not finite and > 0"
        : !Enum.IsDefined(Scaling) ? $"unknown scaling {Scaling}"
        : null;
}
