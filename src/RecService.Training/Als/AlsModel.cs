namespace RecService.Training.Als;

/// <summary>
/// Trained factors, row-major float32: user u's vector is <c>UserFactors[u*Factors .. (u+1)*Factors]</c>, the same
/// layout as a 2-D C-order .npy, so writing one out is a single block copy.
/// </summary>
public sealed class AlsModel(int users, int items, int factors, float[] userFactors, float[] itemFactors)
{
    public int Users { get; } = users;
    public int Items { get; } = items;
    public int Factors { get; } = factors;
    public float[] UserFactors { get; } = userFactors;
    public float[] ItemFactors { get; } = itemFactors;

    public ReadOnlySpan<float> UserVector(int user) => UserFactors.AsSpan(user * Factors, Factors);
    public ReadOnlySpan<float> ItemVector(int item) => ItemFactors.AsSpan(item * Factors, Factors);
}

/// <summary>What one iteration (user half-step then item half-step) took and the loss of the factors after it.</summary>
public readonly record struct AlsIterationReport(int Iteration, double Loss, long NonZeros, TimeSpan UserStep, TimeSpan ItemStep)
{
    public TimeSpan Elapsed => UserStep + ItemStep;

    /// <summary>Loss divided by nnz: comparable across data sizes.</summary>
    public double LossPerNonZero => NonZeros == 0 ? Loss : Loss / NonZeros;
}

/// <summary>Thrown when an iteration produces a NaN or infinite loss, so no garbage factors get published.</summary>
public sealed class TrainingDivergedException(int iteration, double loss)
    : InvalidOperationException($"ALS diverged at iteration {iteration}: loss is {loss}. Lower alpha or raise regularization; no factors were returned.")
{
    public int Iteration { get; } = iteration;
    public double Loss { get; } = loss;
}
