using RecService.Models.Als;

namespace RecService.Training.Als;

/// <summary>Which per-row least-squares solver a half-step uses.</summary>
public enum AlsSolver
{
    /// <summary>A few conjugate-gradient steps warm-started from the previous factors (Takacs et al. 2011): the fast path.</summary>
    ConjugateGradient,

    /// <summary>Exact Cholesky solve of each row's normal equations, in float64: the reference, O(f^3) per row.</summary>
    Cholesky,
}

/// <summary>
/// Hyper-parameters of implicit ALS: the model-defining <see cref="Parameters"/> plus how the fit runs (iterations, solver, threads). Defaults: 64 factors, 15 iterations, 3 CG steps, log confidence
/// c = 1 + 4 log(1 + plays) and lambda 10, from the sweep in Als/ALS.md: within 4% of the best precision@10 on the
/// generated world and 7% on hetrec2011-lastfm-2k. Larger lambda (50-100) suits hetrec's heavy listeners better but
/// over-smooths small catalogues (a newcomer's taste drowns in popularity), so it is not the default.
/// </summary>
public sealed record AlsOptions
{
    public int Factors { get; init; } = AlsParameters.Defaults.Factors;
    public int Iterations { get; init; } = 15;

    /// <summary>lambda in lambda (|x|^2 + |y|^2); not scaled by the row's count.</summary>
    public float Regularization { get; init; } = AlsParameters.Defaults.Regularization;

    /// <summary>alpha in c = 1 + alpha * plays (or its log form).</summary>
    public float Alpha { get; init; } = AlsParameters.Defaults.Alpha;

    public ConfidenceScaling Scaling { get; init; } = AlsParameters.Defaults.Scaling;

    /// <summary>epsilon in c = 1 + alpha * log(1 + plays / epsilon); only used with <see cref="ConfidenceScaling.Log"/>.</summary>
    public float LogEpsilon { get; init; } = AlsParameters.Defaults.LogEpsilon;

    /// <summary>The model-defining subset (what a bundle part records and fold-in uses); the rest says how it was fitted.</summary>
    public AlsParameters Parameters => new(Factors, Regularization, Alpha, Scaling, LogEpsilon);

    public AlsSolver Solver { get; init; } = AlsSolver.ConjugateGradient;

    /// <summary>Conjugate-gradient steps per row per half-step.</summary>
    public int ConjugateGradientSteps { get; init; } = 3;

    /// <summary>
    /// CG steps per row in the first iteration, which starts from random factors rather than a previous solution
    /// (the larger of this and <see cref="ConjugateGradientSteps"/> is used). Costs about one extra iteration in 15
    /// and closes most of the gap to the exact solver that a cold 3-step start leaves at f = 64.
    /// </summary>
    public int FirstIterationConjugateGradientSteps { get; init; } = 8;

    /// <summary>Seeds the initial factors; each row's start depends only on (seed, side, row).</summary>
    public ulong Seed { get; init; } = 42;

    /// <summary>Worker threads; 0 means every core. Results do not depend on it.</summary>
    public int Threads { get; init; }

    internal int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;

    public void Validate()
    {
        if (Factors is < 1 or > 1024) throw new ArgumentOutOfRangeException(nameof(Factors), Factors, "Factors must be in 1..1024.");
        if (Iterations < 0) throw new ArgumentOutOfRangeException(nameof(Iterations), Iterations, "Iterations must be >= 0.");
        if (!(Regularization >= 0) || float.IsInfinity(Regularization))
            throw new ArgumentOutOfRangeException(nameof(Regularization), Regularization, "Regularization must be finite and >= 0.");
        if (!(Alpha >= 0) || float.IsNaN(Alpha)) throw new ArgumentOutOfRangeException(nameof(Alpha), Alpha, "Alpha must be >= 0.");
        if (!(LogEpsilon > 0)) throw new ArgumentOutOfRangeException(nameof(LogEpsilon), LogEpsilon, "LogEpsilon must be > 0.");
        if (ConjugateGradientSteps < 1) throw new ArgumentOutOfRangeException(nameof(ConjugateGradientSteps), ConjugateGradientSteps, "At least one CG step.");
        if (FirstIterationConjugateGradientSteps < 1) throw new ArgumentOutOfRangeException(nameof(FirstIterationConjugateGradientSteps), FirstIterationConjugateGradientSteps, "At least one CG step.");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be >= 0.");
    }
}
