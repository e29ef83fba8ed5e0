using RecService.Core.Vectors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RecService.Training.Als;

/// <summary>
/// The dense inner loops of ALS on float32 vectors of length f, taken by ref so the per-row solvers can point them at
/// a gathered buffer or straight into a factor matrix without building spans. Each uses explicit FMA and a fixed
/// reduction order, so a given input gives the same bits on every thread and at every JIT tier: the trainer's
/// determinism rests on that.
/// </summary>
internal static class VectorKernels
{
    private static readonly int Width = Vector256<float>.Count;
    private static readonly int Wide = Vector512<float>.Count;

    /// <summary>a . b over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref float a, ref float b, int n)
    {
        var i = 0;
        var sum = 0f;
        if (Vector512.IsHardwareAccelerated && n >= Wide)
        {
            // AVX-512: f = 64 is 4 vectors, 2 per accumulator; half the instructions of the 256-bit path.
            var acc0 = Vector512<float>.Zero;
            var acc1 = Vector512<float>.Zero;
            for (; i <= n - 2 * Wide; i += 2 * Wide)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), acc0);
                acc1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)(i + Wide)), Vector512.LoadUnsafe(ref b, (nuint)(i + Wide)), acc1);
            }
            if (i <= n - Wide)
            {
                acc0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref a, (nuint)i), Vector512.LoadUnsafe(ref b, (nuint)i), acc0);
                i += Wide;
            }
            sum = Vector512.Sum(acc0 + acc1);
        }
        else if (Vector256.IsHardwareAccelerated && n >= Width)
        {
            // Two accumulators hide the FMA latency; f = 64 is 8 vectors, 4 per accumulator.
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            for (; i <= n - 2 * Width; i += 2 * Width)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)(i + Width)), Vector256.LoadUnsafe(ref b, (nuint)(i + Width)), acc1);
            }
            if (i <= n - Width)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref a, (nuint)i), Vector256.LoadUnsafe(ref b, (nuint)i), acc0);
                i += Width;
            }
            sum = Vector256.Sum(acc0 + acc1);
        }
        for (; i < n; i++) sum = MathF.FusedMultiplyAdd(Unsafe.Add(ref a, i), Unsafe.Add(ref b, i), sum);
        return sum;
    }

    /// <summary>acc += scale * x over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void MultiplyAdd(ref float acc, ref float x, float scale, int n)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated && n >= Wide)
        {
            var s = Vector512.Create(scale);
            for (; i <= n - Wide; i += Wide)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref x, (nuint)i), s, Vector512.LoadUnsafe(ref acc, (nuint)i)).StoreUnsafe(ref acc, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= Width)
        {
            var s = Vector256.Create(scale);
            for (; i <= n - Width; i += Width)
            {
                var r = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref x, (nuint)i), s, Vector256.LoadUnsafe(ref acc, (nuint)i));
                r.StoreUnsafe(ref acc, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref acc, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref x, i), scale, Unsafe.Add(ref acc, i));
    }

    /// <summary>dst = src over n floats; inlined, unlike a variable-length block copy (a call to Memmove).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Copy(ref float dst, ref float src, int n)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i <= n - Wide; i += Wide) Vector512.LoadUnsafe(ref src, (nuint)i).StoreUnsafe(ref dst, (nuint)i);
        if (Vector256.IsHardwareAccelerated)
            for (; i <= n - Width; i += Width) Vector256.LoadUnsafe(ref src, (nuint)i).StoreUnsafe(ref dst, (nuint)i);
        for (; i < n; i++) Unsafe.Add(ref dst, i) = Unsafe.Add(ref src, i);
    }

    /// <summary>p = r + beta * p over n floats (the CG direction update).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(ref float p, ref float r, float beta, int n)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated && n >= Wide)
        {
            var s = Vector512.Create(beta);
            for (; i <= n - Wide; i += Wide)
                Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref p, (nuint)i), s, Vector512.LoadUnsafe(ref r, (nuint)i)).StoreUnsafe(ref p, (nuint)i);
        }
        if (Vector256.IsHardwareAccelerated && n - i >= Width)
        {
            var s = Vector256.Create(beta);
            for (; i <= n - Width; i += Width)
            {
                var v = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref p, (nuint)i), s, Vector256.LoadUnsafe(ref r, (nuint)i));
                v.StoreUnsafe(ref p, (nuint)i);
            }
        }
        for (; i < n; i++) Unsafe.Add(ref p, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref p, i), beta, Unsafe.Add(ref r, i));
    }

    /// <summary>
    /// result = M v for a symmetric n x n row-major M. Symmetry lets us walk M by rows (= columns) and keep a block
    /// of 32 outputs in registers: M is read exactly once, v[j] is broadcast, and nothing round-trips through memory.
    /// For f = 64 that is two passes of 64 rows x 4 FMAs.
    /// </summary>
    public static void SymmetricMultiply(ref float m, ref float v, ref float result, int n)
    {
        var i = 0;
        if (Vector512.IsHardwareAccelerated)
        {
            // 64 outputs in four zmm accumulators: f = 64 is one pass over M.
            for (; i <= n - 4 * Wide; i += 4 * Wide)
            {
                var a0 = Vector512<float>.Zero;
                var a1 = Vector512<float>.Zero;
                var a2 = Vector512<float>.Zero;
                var a3 = Vector512<float>.Zero;
                ref var column = ref Unsafe.Add(ref m, i);
                for (var j = 0; j < n; j++)
                {
                    var vj = Vector512.Create(Unsafe.Add(ref v, j));
                    ref var row = ref Unsafe.Add(ref column, j * n);
                    a0 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, 0), vj, a0);
                    a1 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, (nuint)Wide), vj, a1);
                    a2 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, (nuint)(2 * Wide)), vj, a2);
                    a3 = Vector512.FusedMultiplyAdd(Vector512.LoadUnsafe(ref row, (nuint)(3 * Wide)), vj, a3);
                }
                a0.StoreUnsafe(ref result, (nuint)i);
                a1.StoreUnsafe(ref result, (nuint)(i + Wide));
                a2.StoreUnsafe(ref result, (nuint)(i + 2 * Wide));
                a3.StoreUnsafe(ref result, (nuint)(i + 3 * Wide));
            }
        }
        if (Vector256.IsHardwareAccelerated)
        {
            for (; i <= n - 4 * Width; i += 4 * Width)
            {
                var a0 = Vector256<float>.Zero;
                var a1 = Vector256<float>.Zero;
                var a2 = Vector256<float>.Zero;
                var a3 = Vector256<float>.Zero;
                ref var column = ref Unsafe.Add(ref m, i);
                for (var j = 0; j < n; j++)
                {
                    var vj = Vector256.Create(Unsafe.Add(ref v, j));
                    ref var row = ref Unsafe.Add(ref column, j * n);
                    a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, 0), vj, a0);
                    a1 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, (nuint)Width), vj, a1);
                    a2 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, (nuint)(2 * Width)), vj, a2);
                    a3 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref row, (nuint)(3 * Width)), vj, a3);
                }
                a0.StoreUnsafe(ref result, (nuint)i);
                a1.StoreUnsafe(ref result, (nuint)(i + Width));
                a2.StoreUnsafe(ref result, (nuint)(i + 2 * Width));
                a3.StoreUnsafe(ref result, (nuint)(i + 3 * Width));
            }
            for (; i <= n - Width; i += Width)
            {
                var a0 = Vector256<float>.Zero;
                for (var j = 0; j < n; j++)
                    a0 = Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref m, (nuint)(j * n + i)), Vector256.Create(Unsafe.Add(ref v, j)), a0);
                a0.StoreUnsafe(ref result, (nuint)i);
            }
        }
        for (; i < n; i++)
        {
            var s = 0f;
            for (var j = 0; j < n; j++) s = MathF.FusedMultiplyAdd(Unsafe.Add(ref m, j * n + i), Unsafe.Add(ref v, j), s);
            Unsafe.Add(ref result, i) = s;
        }
    }

    /// <summary>
    /// ap += sum_k w_k (y_k . p) y_k for f = 64 with AVX-512: the CG matrix-vector product's per-entry part, which is
    /// most of a half-step's arithmetic. p and two sets of accumulators stay in zmm registers across the whole row
    /// (alternating sets by entry so consecutive updates do not wait on each other), so each entry costs one read of
    /// y and no round trip of ap through memory. Callers check <see cref="CanUseRowProduct64"/> first.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void RowProduct64<TRows>(TRows rows, int count, ref float weights, ref float p, ref float ap)
        where TRows : struct, IFactorRows
    {
        var p0 = Vector512.LoadUnsafe(ref p, 0);
        var p1 = Vector512.LoadUnsafe(ref p, 16);
        var p2 = Vector512.LoadUnsafe(ref p, 32);
        var p3 = Vector512.LoadUnsafe(ref p, 48);
        Vector512<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        var k = 0;
        for (; k + 1 < count; k += 2)
        {
            ref var y = ref rows.Row(k);
            var y0 = Vector512.LoadUnsafe(ref y, 0);
            var y1 = Vector512.LoadUnsafe(ref y, 16);
            var y2 = Vector512.LoadUnsafe(ref y, 32);
            var y3 = Vector512.LoadUnsafe(ref y, 48);
            var s = Vector512.Create(Unsafe.Add(ref weights, k) * Vector512.Sum(Vector512.FusedMultiplyAdd(y0, p0, y1 * p1) + Vector512.FusedMultiplyAdd(y2, p2, y3 * p3)));
            a0 = Vector512.FusedMultiplyAdd(y0, s, a0);
            a1 = Vector512.FusedMultiplyAdd(y1, s, a1);
            a2 = Vector512.FusedMultiplyAdd(y2, s, a2);
            a3 = Vector512.FusedMultiplyAdd(y3, s, a3);

            ref var z = ref rows.Row(k + 1);
            var z0 = Vector512.LoadUnsafe(ref z, 0);
            var z1 = Vector512.LoadUnsafe(ref z, 16);
            var z2 = Vector512.LoadUnsafe(ref z, 32);
            var z3 = Vector512.LoadUnsafe(ref z, 48);
            var t = Vector512.Create(Unsafe.Add(ref weights, k + 1) * Vector512.Sum(Vector512.FusedMultiplyAdd(z0, p0, z1 * p1) + Vector512.FusedMultiplyAdd(z2, p2, z3 * p3)));
            b0 = Vector512.FusedMultiplyAdd(z0, t, b0);
            b1 = Vector512.FusedMultiplyAdd(z1, t, b1);
            b2 = Vector512.FusedMultiplyAdd(z2, t, b2);
            b3 = Vector512.FusedMultiplyAdd(z3, t, b3);
        }
        if (k < count)
        {
            ref var y = ref rows.Row(k);
            var y0 = Vector512.LoadUnsafe(ref y, 0);
            var y1 = Vector512.LoadUnsafe(ref y, 16);
            var y2 = Vector512.LoadUnsafe(ref y, 32);
            var y3 = Vector512.LoadUnsafe(ref y, 48);
            var s = Vector512.Create(Unsafe.Add(ref weights, k) * Vector512.Sum(Vector512.FusedMultiplyAdd(y0, p0, y1 * p1) + Vector512.FusedMultiplyAdd(y2, p2, y3 * p3)));
            a0 = Vector512.FusedMultiplyAdd(y0, s, a0);
            a1 = Vector512.FusedMultiplyAdd(y1, s, a1);
            a2 = Vector512.FusedMultiplyAdd(y2, s, a2);
            a3 = Vector512.FusedMultiplyAdd(y3, s, a3);
        }
        (Vector512.LoadUnsafe(ref ap, 0) + (a0 + b0)).StoreUnsafe(ref ap, 0);
        (Vector512.LoadUnsafe(ref ap, 16) + (a1 + b1)).StoreUnsafe(ref ap, 16);
        (Vector512.LoadUnsafe(ref ap, 32) + (a2 + b2)).StoreUnsafe(ref ap, 32);
        (Vector512.LoadUnsafe(ref ap, 48) + (a3 + b3)).StoreUnsafe(ref ap, 48);
    }

    /// <summary>Whether <see cref="RowProduct64"/> applies: AVX-512 and exactly 64 factors (the default).</summary>
    public static bool CanUseRowProduct64(int factors) => factors == 64 && Vector512.IsHardwareAccelerated;

    /// <summary>
    /// The first pass of a CG row solve for f = 64 with AVX-512: r += sum_k (cp_k - cm1_k (y_k . x)) y_k and, for the
    /// loss, b += sum_k cp_k y_k, with x, r and b held in registers. Each y_k is read once from the scattered fixed-side
    /// matrix (prefetched <paramref name="prefetchDistance"/> entries ahead while <c>k &lt; prefetchable</c>) and, when
    /// <paramref name="gathered"/> is not null, copied there for the CG steps. Returns sum_k cp_k when withLoss.
    /// </summary>
    public static double ResidualPass64(IndexedRows source, int count, ref float cp, ref float cm1, ref float x, ref float r,
        ref float b, bool withLoss, float[]? gathered, int prefetchable, int prefetchDistance)
    {
        var x0 = Vector512.LoadUnsafe(ref x, 0);
        var x1 = Vector512.LoadUnsafe(ref x, 16);
        var x2 = Vector512.LoadUnsafe(ref x, 32);
        var x3 = Vector512.LoadUnsafe(ref x, 48);
        var r0 = Vector512.LoadUnsafe(ref r, 0);
        var r1 = Vector512.LoadUnsafe(ref r, 16);
        var r2 = Vector512.LoadUnsafe(ref r, 32);
        var r3 = Vector512.LoadUnsafe(ref r, 48);
        Vector512<float> b0 = default, b1 = default, b2 = default, b3 = default;
        double sumWeights = 0;
        ref var copy = ref gathered is null ? ref Unsafe.NullRef<float>() : ref MemoryMarshal.GetArrayDataReference(gathered);
        for (var k = 0; k < count; k++)
        {
            if (k < prefetchable) VectorMath.Prefetch(in source.Row(k + prefetchDistance), 64);
            ref var y = ref source.Row(k);
            var y0 = Vector512.LoadUnsafe(ref y, 0);
            var y1 = Vector512.LoadUnsafe(ref y, 16);
            var y2 = Vector512.LoadUnsafe(ref y, 32);
            var y3 = Vector512.LoadUnsafe(ref y, 48);
            if (gathered is not null)
            {
                ref var dst = ref Unsafe.Add(ref copy, k * 64);
                y0.StoreUnsafe(ref dst, 0);
                y1.StoreUnsafe(ref dst, 16);
                y2.StoreUnsafe(ref dst, 32);
                y3.StoreUnsafe(ref dst, 48);
            }
            var weight = Unsafe.Add(ref cp, k);
            var d = Vector512.Sum(Vector512.FusedMultiplyAdd(y0, x0, y1 * x1) + Vector512.FusedMultiplyAdd(y2, x2, y3 * x3));
            var s = Vector512.Create(weight - Unsafe.Add(ref cm1, k) * d);
            r0 = Vector512.FusedMultiplyAdd(y0, s, r0);
            r1 = Vector512.FusedMultiplyAdd(y1, s, r1);
            r2 = Vector512.FusedMultiplyAdd(y2, s, r2);
            r3 = Vector512.FusedMultiplyAdd(y3, s, r3);
            if (withLoss)
            {
                var w = Vector512.Create(weight);
                b0 = Vector512.FusedMultiplyAdd(y0, w, b0);
                b1 = Vector512.FusedMultiplyAdd(y1, w, b1);
                b2 = Vector512.FusedMultiplyAdd(y2, w, b2);
                b3 = Vector512.FusedMultiplyAdd(y3, w, b3);
                sumWeights += weight;
            }
        }
        r0.StoreUnsafe(ref r, 0);
        r1.StoreUnsafe(ref r, 16);
        r2.StoreUnsafe(ref r, 32);
        r3.StoreUnsafe(ref r, 48);
        if (withLoss)
        {
            b0.StoreUnsafe(ref b, 0);
            b1.StoreUnsafe(ref b, 16);
            b2.StoreUnsafe(ref b, 32);
            b3.StoreUnsafe(ref b, 48);
        }
        return sumWeights;
    }
}
