using System.Numerics;
using System.Numerics.Tensors;

namespace RecService.Models.Als;

/// <summary>
/// The Cholesky factorisation every exact ALS solve uses (the trainer's reference solver and the replica's fold-in):
/// A = L L^T in float64 for a symmetric positive definite f x f matrix, then the two triangular solves.
/// </summary>
public static class Cholesky
{
    /// <summary>
    /// Lower-triangular L (row-major, f x f; the upper half is left as it was) from the lower half and diagonal of
    /// <paramref name="a"/>. <paramref name="l"/> may be the same memory as <paramref name="a"/> (in place, float64).
    /// False when A is not positive definite.
    /// </summary>
    public static bool Factor<T>(ReadOnlySpan<T> a, Span<double> l, int f) where T : unmanaged, INumberBase<T>
    {
        for (var j = 0; j < f; j++)
        {
            var rowJ = l.Slice(j * f, j);
            var d = double.CreateTruncating(a[j * f + j]) - TensorPrimitives.Dot<double>(rowJ, rowJ);
            if (!(d > 0)) return false;
            var pivot = Math.Sqrt(d);
            l[j * f + j] = pivot;
            for (var i = j + 1; i < f; i++)
                l[i * f + j] = (double.CreateTruncating(a[i * f + j]) - TensorPrimitives.Dot<double>(l.Slice(i * f, j), rowJ)) / pivot;
        }
        return true;
    }

    /// <summary>Solves L L^T x = b in place (b becomes x), with L from <see cref="Factor{T}"/>.</summary>
    public static void Solve(ReadOnlySpan<double> l, Span<double> b, int f)
    {
        // L z = b, then L^T x = z (z kept in b).
        for (var i = 0; i < f; i++)
        {
            var s = b[i] - TensorPrimitives.Dot(l.Slice(i * f, i), b[..i]);
            b[i] = s / l[i * f + i];
        }
        for (var i = f - 1; i >= 0; i--)
        {
            var s = b[i];
            for (var k = i + 1; k < f; k++) s -= l[k * f + i] * b[k];
            b[i] = s / l[i * f + i];
        }
    }
}
