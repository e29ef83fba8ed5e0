namespace RecService.Training.Word2Vec;

/// <summary>
/// Skip-gram with negative sampling (Mikolov et al. 2013) over token sequences. Defaults are the reference tool's
/// for skip-gram; WORD2VEC.md says what each one does to item embeddings.
/// </summary>
public sealed record Word2VecOptions
{
    /// <summary>Embedding dimensions.</summary>
    public int Dimensions { get; init; } = 64;
    /// <summary>Largest distance between a token and a context token; each position draws its own window in [1, Window].</summary>
    public int Window { get; init; } = 5;
    /// <summary>Noise tokens drawn per (token, context) pair.</summary>
    public int Negatives { get; init; } = 5;
    public int Epochs { get; init; } = 5;
    /// <summary>Starting step size, decayed linearly over all epochs' tokens down to <see cref="MinLearningRateFraction"/> of it.</summary>
    public float LearningRate { get; init; } = 0.025f;
    public float MinLearningRateFraction { get; init; } = 1e-4f;
    /// <summary>Frequent-token down-sampling threshold t (a token of corpus frequency f is kept with probability
    /// (sqrt(f / t) + 1) t / f); 0 keeps every token.</summary>
    public double Subsample { get; init; } = 1e-3;
    /// <summary>Noise tokens are drawn with probability proportional to count^NoisePower.</summary>
    public double NoisePower { get; init; } = 0.75;
    public ulong Seed { get; init; } = 42;
    /// <summary>Training threads; 0 = one per core. With one thread the result depends only on the seed; with more,
    /// threads update the shared input vectors without locks (Hogwild, as the reference tool does), each trains its own
    /// copy of the output vectors and merges it now and then, and results differ in the last bits from run to run.</summary>
    public int Threads { get; init; }

    public int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;

    public void Validate()
    {
        if (Dimensions is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(Dimensions), Dimensions, "Dimensions must be in [1, 4096].");
        if (Window is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(Window), Window, "Window must be in [1, 1000].");
        if (Negatives is < 1 or > 100) throw new ArgumentOutOfRangeException(nameof(Negatives), Negatives, "Negatives must be in [1, 100].");
        if (Epochs is < 1 or > 1000) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be in [1, 1000].");
        if (!(LearningRate > 0 && LearningRate <= 1)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be in (0, 1].");
        if (!(MinLearningRateFraction >= 0 && MinLearningRateFraction <= 1))
            throw new ArgumentOutOfRangeException(nameof(MinLearningRateFraction), MinLearningRateFraction, "MinLearningRateFraction must be in [0, 1].");
        if (!(Subsample >= 0 && Subsample < 1)) throw new ArgumentOutOfRangeException(nameof(Subsample), Subsample, "Subsample must be in [0, 1).");
        if (!(NoisePower >= 0 && NoisePower <= 2)) throw new ArgumentOutOfRangeException(nameof(NoisePower), NoisePower, "NoisePower must be in [0, 2].");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (all cores) or more.");
    }
}
