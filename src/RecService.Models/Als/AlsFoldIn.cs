using System.Numerics.Tensors;

namespace RecService.Models.Als;

/// <summary>
/// Real-time taste: a user's vector recomputed from their plays with one exact implicit-ALS half-step against a part's
/// item factors Y, x = (Y^T Y + Y^T (C - I) Y + lambda I)^-1 Y^T C p (Hu, Koren, Volinsky 2008, eq. 4), with the part's
/// own confidence function and lambda. Y^T Y comes precomputed with the part, so the cost is O(n f^2) for n played items
/// plus an O(f^3 / 3) Cholesky factorisation in float64. Buffers are per thread; a call allocates nothing.
/// </summary>
public static class AlsFoldIn
{
    [ThreadStatic] private static float[]? t_matrix;
    [ThreadStatic] private static double[]? t_factor;
    [ThreadStatic] private static double[]? t_vector;

    /// <summary>
    /// Writes the user vector for <paramref name="items"/> played <paramref name="plays"/> times (distinct items, any order)
    /// into <paramref name="x"/> (length <see cref="AlsPart.Factors"/>). False when no play counts (all non-positive) or
    /// the system is not positive definite (lambda 0 and too few plays).
    /// </summary>
    public static bool Solve(AlsPart part, ReadOnlySpan<int> items, ReadOnlySpan<float> plays, Span<float> x)
    {
        var f = part.Factors;
        if (x.Length != f) throw new ArgumentException($"x has {x.Length} values; the model has {f} factors.", nameof(x));
        if (items.Length != plays.Length) throw new ArgumentException("items and plays differ in length.");
        var parameters = part.Parameters;
        var a = Scratch(ref t_matrix, f * f);
        var l = Scratch(ref t_factor, f * f);
        var b = Scratch(ref t_vector, f);

        part.Gram.CopyTo(a);
        for (var i = 0; i < f; i++) a[i * f + i] += parameters.Regularization;
        Array.Clear(b, 0, f);
        var any = false;
        var factors = part.ItemFactors;
        for (var k = 0; k < items.Length; k++)
        {
            if (!(plays[k] > 0)) continue;
            any = true;
            var y = factors.Row(items[k]);
            var extra = parameters.ExtraConfidence(plays[k]);
            // A += (c - 1) y y^T, one row at a time; b += c p y with p = 1.
            for (var i = 0; i < f; i++)
            {
                var row = a.AsSpan(i * f, f);
                TensorPrimitives.MultiplyAdd(y, extra * y[i], row, row);
            }
            var weight = 1.0 + extra;
            for (var i = 0; i < f; i++) b[i] += weight * y[i];
        }
        if (!any) return false;
        if (!Cholesky.Factor<float>(a.AsSpan(0, f * f), l.AsSpan(0, f * f), f)) return false;
        Cholesky.Solve(l.AsSpan(0, f * f), b.AsSpan(0, f), f);
        for (var i = 0; i < f; i++) x[i] = (float)b[i];
        return true;
    }

    private static T[] Scratch<T>(ref T[]? buffer, int length)
    {
        if (buffer is null || buffer.Length < length) buffer = new T[length];
        return buffer;
    }
}
