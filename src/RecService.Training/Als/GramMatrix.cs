namespace RecService.Training.Als;

/// <summary>
/// Y^T Y of a row-major factor matrix, the part of every row's normal equations that does not depend on the row
/// (Hu et al.'s trick: computed once per half-step instead of once per row).
/// </summary>
internal static class GramMatrix
{
    /// <summary>
    /// Fixed block size, not derived from the thread count: each block's partial sum is a pure function of its rows and
    /// the partials are added in block order, so the result has the same bits with 1 thread or 16.
    /// </summary>
    private const int BlockRows = 1024;

    /// <summary>Returns Y^T Y (f x f, row-major) in float64, and its trace (= |Y|^2, used by the loss) via <paramref name="trace"/>.</summary>
    public static double[] Compute(float[] factors, int rows, int f, ParallelOptions parallel, out double trace)
    {
        var blocks = (rows + BlockRows - 1) / BlockRows;
        var partials = new double[blocks * f * f];
        Parallel.For(0, blocks, parallel, () => new float[f * f], (block, _, scratch) =>
        {
            // A block accumulates in float (1024 rank-1 updates of values near 1 lose little), then widens to double
            // before blocks are combined, so rounding does not grow with the number of rows.
            Array.Clear(scratch);
            var end = Math.Min(rows, (block + 1) * BlockRows);
            // Upper triangle only (row i from column i on): half the flops; mirrored when widening below.
            for (var r = block * BlockRows; r < end; r++)
            {
                for (var i = 0; i < f; i++)
                    VectorKernels.MultiplyAdd(ref scratch[i * f + i], ref factors[r * f + i], factors[r * f + i], f - i);
            }
            var target = partials.AsSpan(block * f * f, f * f);
            for (var i = 0; i < f; i++)
            {
                for (var j = i; j < f; j++) target[i * f + j] = target[j * f + i] = scratch[i * f + j];
            }
            return scratch;
        }, static _ => { });

        var gram = new double[f * f];
        for (var b = 0; b < blocks; b++)
        {
            var part = partials.AsSpan(b * f * f, f * f);
            for (var i = 0; i < gram.Length; i++) gram[i] += part[i];
        }
        trace = 0;
        for (var i = 0; i < f; i++) trace += gram[i * f + i];
        return gram;
    }

    /// <summary>float32 copy of <paramref name="gram"/> + lambda I, what the CG matrix-vector product uses.</summary>
    public static float[] Regularized(double[] gram, int f, float lambda)
    {
        var result = new float[f * f];
        for (var i = 0; i < result.Length; i++) result[i] = (float)gram[i];
        for (var i = 0; i < f; i++) result[i * f + i] = (float)(gram[i * f + i] + lambda);
        return result;
    }
}
