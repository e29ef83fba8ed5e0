using System.Numerics.Tensors;

namespace RecService.Core.Bundle;

/// <summary>
/// Y^T Y of a factor matrix (rows x f, row-major): the f x f Gram matrix every implicit-ALS solve for one user starts
/// from. Stored with a part (its <see cref="PartRoles.Gram"/> extra) so a replica folding a user in never pays the
/// O(rows f^2) pass; computed here for the writer.
/// </summary>
public static class FactorGram
{
    /// <summary>Rows are summed in float blocks of this many, each block added into a float64 total.</summary>
    private const int Block = 256;

    public static float[] Compute(ReadOnlySpan<float> factors, int rows, int f)
    {
        if (factors.Length != (long)rows * f) throw new ArgumentException($"{factors.Length} values for a {rows} x {f} matrix.");
        var total = new double[f * f];
        var partial = new float[f * f];
        for (var start = 0; start < rows; start += Block)
        {
            Array.Clear(partial);
            var end = Math.Min(rows, start + Block);
            for (var row = start; row < end; row++)
            {
                var y = factors.Slice(row * f, f);
                for (var i = 0; i < f; i++)
                {
                    var line = partial.AsSpan(i * f, f);
                    TensorPrimitives.MultiplyAdd(y, y[i], line, line);
                }
            }
            for (var k = 0; k < total.Length; k++) total[k] += partial[k];
        }
        var gram = new float[f * f];
        for (var k = 0; k < gram.Length; k++) gram[k] = (float)total[k];
        return gram;
    }

    /// <summary>
    /// O(rows f) check that <paramref name="gram"/> belongs to <paramref name="factors"/>: it is symmetric and its trace
    /// equals the sum of the rows' squared norms (to float rounding). Null when it passes, else what is wrong.
    /// </summary>
    public static string? Mismatch(ReadOnlySpan<float> gram, ReadOnlySpan<float> factors, int rows, int f)
    {
        if (gram.Length != f * f) return $"{gram.Length} values for a {f} x {f} Gram matrix";
        double trace = 0, squares = 0;
        for (var i = 0; i < f; i++)
        {
            trace += gram[i * f + i];
            for (var j = 0; j < i; j++)
            {
                float a = gram[i * f + j], b = gram[j * f + i];
                if (!(MathF.Abs(a - b) <= 1e-4f * (1 + MathF.Abs(a)))) return $"not symmetric at ({i}, {j})";
            }
        }
        for (var row = 0; row < rows; row++)
        {
            var y = factors.Slice(row * f, f);
            squares += TensorPrimitives.Dot(y, y);
        }
        // An overflowing square would make both sides infinite and the tolerance with them: not a match.
        return double.IsFinite(squares) && Math.Abs(trace - squares) <= 1e-4 * (1 + squares) ? null : $"trace {trace:G6} != sum of squared item norms {squares:G6}";
    }
}
