using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

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

    /// <summary>a . b over n floats.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ref float a, ref float b, int n)
    {
        var i = 0;
        var sum = 0f;
        if (Vector256.IsHardwareAccelerated && n >= Width)
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
        if (Vector256.IsHardwareAccelerated && n >= Width)
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

    /// <summary>p = r + beta * p over n floats (the CG direction update).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleAdd(ref float p, ref float r, float beta, int n)
    {
        var i = 0;
        if (Vector256.IsHardwareAccelerated && n >= Width)
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
}
