using RecService.Models.Als;

namespace RecService.Training.Als;

/// <summary>
/// Exact solve of a row's normal equations, (Y^T Y + lambda I + sum_k (c_k - 1) y_k y_k^T) x = sum_k c_k p_k y_k,
/// by forming A in float64 and factoring it (A is symmetric positive definite for lambda > 0). O(n f^2 + f^3) per row:
/// the reference the CG path is tested against, not the production path.
/// </summary>
internal static class CholeskySolver
{
    /// <summary>Overwrites x with the solution and returns the row's loss share sum c p - 2 x.b + x^T A x (float64).</summary>
    public static double SolveRow(ConfidenceRows rows, int row, float[] fixedFactors, double[] gram, float lambda, Span<float> x,
        RowWorkspace ws, int f, bool withLoss)
    {
        var a = ws.Matrix;
        var b = ws.Vector;
        Array.Copy(gram, a, f * f);
        for (var i = 0; i < f; i++) a[i * f + i] += lambda;
        Array.Clear(b);
        double sumWeightedPreference = 0;
        for (var k = rows.RowPointers[row]; k < rows.RowPointers[row + 1]; k++)
        {
            var y = fixedFactors.AsSpan(rows.ColumnIndices[k] * f, f);
            double extra = rows.ExtraConfidence[k], weight = rows.WeightedPreference[k];
            sumWeightedPreference += weight;
            for (var i = 0; i < f; i++)
            {
                b[i] += weight * y[i];
                var s = extra * y[i];
                for (var j = 0; j <= i; j++) a[i * f + j] += s * y[j];
            }
        }

        // Lower-triangular Cholesky in place: A = L L^T, using only the lower half filled above.
        var l = new Span<double>(ws.Matrix, 0, f * f);
        if (withLoss)
        {
            // Keep A's lower half for the loss: copy into the upper half (transposed) before it is overwritten.
            for (var i = 0; i < f; i++)
                for (var j = 0; j < i; j++) a[j * f + i] = a[i * f + j];
        }
        Span<double> diagonal = stackalloc double[f];
        for (var i = 0; i < f; i++) diagonal[i] = a[i * f + i];
        if (!Cholesky.Factor<double>(l, l, f))
            throw new InvalidOperationException($"Row {row}: normal equations are not positive definite; use regularization > 0.");
        // b stays for the loss: solve on a copy.
        Span<double> solution = stackalloc double[f];
        b.AsSpan(0, f).CopyTo(solution);
        Cholesky.Solve(l, solution, f);
        for (var i = 0; i < f; i++) x[i] = (float)solution[i];
        if (!withLoss) return 0;

        // x^T A x from the saved upper half (A[i][j] for j > i) and diagonal, at the stored float x.
        double quadratic = 0, linear = 0;
        for (var i = 0; i < f; i++)
        {
            double xi = x[i];
            linear += xi * b[i];
            quadratic += diagonal[i] * xi * xi;
            for (var j = i + 1; j < f; j++) quadratic += 2 * a[i * f + j] * xi * x[j];
        }
        return sumWeightedPreference - 2 * linear + quadratic;
    }
}
