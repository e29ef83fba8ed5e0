using RecService.Core.Sampling;
using System.Diagnostics;
using RecService.Core.Sparse;

namespace RecService.Training.Als;

/// <summary>
/// Implicit-feedback ALS (Hu, Koren, Volinsky 2008): minimises
/// sum_{u,i} c_ui (p_ui - x_u.y_i)^2 + lambda (sum |x_u|^2 + sum |y_i|^2), with p = 1 where plays > 0 and
/// c = 1 + alpha * plays (or its log form), by alternating exact-or-CG solves of every user row given the item
/// factors and every item row given the user factors.
/// <para>
/// Determinism: each row's start is a function of (seed, side, row), each row is solved from shared read-only inputs,
/// and every reduction (Y^T Y, the loss) runs over fixed blocks summed in block order, so the factors and losses are
/// bit-identical for any thread count.
/// </para>
/// </summary>
public sealed class AlsTrainer(AlsOptions options)
{
    /// <summary>Initial factors are uniform in +-InitialScale: small enough that the first solves are dominated by the data.</summary>
    private const float InitialScale = 0.01f;

    public AlsOptions Options { get; } = options;

    /// <summary>
    /// Trains on a users x items matrix of play counts. <paramref name="onIteration"/> receives each iteration's loss
    /// (of the factors after that iteration, computed exactly during the item half-step) and timings.
    /// </summary>
    /// <exception cref="TrainingDivergedException">An iteration's loss was NaN or infinite.</exception>
    public AlsModel Train(CsrMatrix userItems, Action<AlsIterationReport>? onIteration = null, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        var f = Options.Factors;
        var users = new ConfidenceRows(userItems, Options);
        var items = new ConfidenceRows(userItems.Transpose(), Options);
        var userFactors = InitialFactors(Options.Seed, side: 0, userItems.Rows, f);
        var itemFactors = InitialFactors(Options.Seed, side: 1, userItems.Columns, f);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = Options.EffectiveThreads, CancellationToken = cancellationToken };

        for (var iteration = 1; iteration <= Options.Iterations; iteration++)
        {
            var clock = Stopwatch.StartNew();
            // Iteration 1 starts from random factors, not from a previous solution, so a warm-started 3-step CG would
            // leave it far from the row optimum and the gap would take many iterations to close: give it more steps.
            var steps = iteration == 1 ? Math.Max(Options.ConjugateGradientSteps, Options.FirstIterationConjugateGradientSteps) : Options.ConjugateGradientSteps;
            SolveSide(users, itemFactors, userItems.Columns, userFactors, withLoss: false, parallel, steps);
            var userStep = clock.Elapsed;
            clock.Restart();
            // The loss is taken in the second half-step so that it is the loss of the factors this iteration returns.
            var loss = SolveSide(items, userFactors, userItems.Rows, itemFactors, withLoss: true, parallel, steps);
            var itemStep = clock.Elapsed;
            if (!double.IsFinite(loss)) throw new TrainingDivergedException(iteration, loss);
            onIteration?.Invoke(new AlsIterationReport(iteration, loss, userItems.NonZeros, userStep, itemStep));
        }
        return new AlsModel(userItems.Rows, userItems.Columns, f, userFactors, itemFactors);
    }

    /// <summary>
    /// Solves every row of <paramref name="rows"/> for <paramref name="target"/> given the fixed side's factors.
    /// Returns the full training loss at the new factors when <paramref name="withLoss"/>: the per-row shares
    /// (which include this side's lambda |x|^2) plus lambda |fixed|^2, read off the trace of the Gram matrix.
    /// </summary>
    internal double SolveSide(ConfidenceRows rows, float[] fixedFactors, int fixedCount, float[] target, bool withLoss, ParallelOptions parallel, int? conjugateGradientSteps = null)
    {
        var f = Options.Factors;
        var lambda = Options.Regularization;
        var gram = GramMatrix.Compute(fixedFactors, fixedCount, f, parallel, out var fixedSquaredNorm);
        var cholesky = Options.Solver == AlsSolver.Cholesky;
        var regularizedGram = cholesky ? [] : GramMatrix.Regularized(gram, f, lambda);
        var steps = conjugateGradientSteps ?? Options.ConjugateGradientSteps;
        var illConditioned = ConjugateGradientSolver.IllConditionedConfidence(fixedSquaredNorm, fixedCount, f, lambda);
        var chunkLoss = new double[rows.ChunkCount];

        Parallel.For(0, rows.ChunkCount, parallel, () => new RowWorkspace(f, rows.MaxRowLength, cholesky), (chunk, _, ws) =>
        {
            double loss = 0;
            for (var row = rows.ChunkStarts[chunk]; row < rows.ChunkStarts[chunk + 1]; row++)
            {
                loss += cholesky
                    ? CholeskySolver.SolveRow(rows, row, fixedFactors, gram, lambda, target.AsSpan(row * f, f), ws, f, withLoss)
                    : ConjugateGradientSolver.SolveRow(rows, row, fixedFactors, regularizedGram, ref target[row * f], ws, f, steps,
                        rows.MaxExtraConfidence[row] > illConditioned ? ConjugateGradientSolver.IllConditionedStepFactor * steps : steps, withLoss);
            }
            chunkLoss[chunk] = loss;
            return ws;
        }, static _ => { });

        if (!withLoss) return 0;
        double total = 0;
        foreach (var part in chunkLoss) total += part;
        return total + lambda * fixedSquaredNorm;
    }

    /// <summary>Uniform(-s, s) factors where row r's values depend only on (seed, side, r): a SplitMix64 stream per row.</summary>
    internal static float[] InitialFactors(ulong seed, int side, int rows, int f)
    {
        var factors = new float[rows * f];
        for (var r = 0; r < rows; r++)
        {
            var state = SplitMix64.Mix(seed ^ SplitMix64.Mix(((ulong)(uint)side << 32) | (uint)r));
            var row = factors.AsSpan(r * f, f);
            for (var i = 0; i < f; i++)
            {
                // Top 24 bits -> [0, 1) exactly representable in float.
                var unit = (SplitMix64.Next(ref state) >> 40) * (1f / (1 << 24));
                row[i] = (2f * unit - 1f) * InitialScale;
            }
        }
        return factors;
    }
}
