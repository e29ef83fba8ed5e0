using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace RecService.Core.Vectors;

/// <summary>
/// The few vector kernels the forest and the exact search need. Float kernels defer to
/// <see cref="TensorPrimitives"/> where a call per row is cheap enough; the int8 kernel is hand-written
/// because candidate scoring is the innermost loop of a query.
/// </summary>
public static class VectorMath
{
    /// <summary>Largest magnitude a quantized query component takes. With item codes in [-127, 127],
    /// one vpmaddwd pair sums to at most 2 * 127 * 8191 and <see cref="MaxQuantizedDimensions"/> of them stay below 2^31.</summary>
    public const int QueryQuantMax = 8191;

    /// <summary>Bound on dimensions so the int32 accumulator of <see cref="DotInt8Int16"/> cannot overflow.</summary>
    public const int MaxQuantizedDimensions = 2048;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b) => TensorPrimitives.Dot(a, b);

    public static float Norm(ReadOnlySpan<float> a) => TensorPrimitives.Norm(a);

    /// <summary>Index of the first NaN or infinity, or -1: the guard before factors are indexed or published.</summary>
    public static int IndexOfNonFinite(ReadOnlySpan<float> values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            if (!float.IsFinite(values[i])) return i;
        }
        return -1;
    }

    /// <summary>Scales <paramref name="v"/> to unit length in place; a zero vector stays zero. Returns the original norm.</summary>
    public static float NormalizeInPlace(Span<float> v)
    {
        float n = TensorPrimitives.Norm(v);
        if (n > 0f) TensorPrimitives.Multiply(v, 1f / n, v);
        return n;
    }

    /// <summary>
    /// Dot product of two float rows whose length is a multiple of 8 (padded node normals against a padded query):
    /// no tail loop and no call overhead, which matters because it runs once per tree node visited.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe float DotPadded(float* a, float* b, int paddedLength)
    {
        if (Vector256.IsHardwareAccelerated)
        {
            var acc0 = Vector256<float>.Zero;
            var acc1 = Vector256<float>.Zero;
            int i = 0;
            for (; i + 16 <= paddedLength; i += 16)
            {
                acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
                acc1 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), acc1);
            }
            if (i < paddedLength) acc0 = Vector256.FusedMultiplyAdd(Vector256.Load(a + i), Vector256.Load(b + i), acc0);
            return Vector256.Sum(acc0 + acc1);
        }
        return TensorPrimitives.Dot(new ReadOnlySpan<float>(a, paddedLength), new ReadOnlySpan<float>(b, paddedLength));
    }

    /// <summary>
    /// results[r] = x · row r of <paramref name="rows"/> (results.Length rows of x.Length floats, packed). Four rows
    /// share each load of x and there is no call per row: an explanation scores a track's artist against a handful of
    /// the user's artists, where a call per 64-float dot costs as much as the arithmetic.
    /// </summary>
    public static void DotRows(ReadOnlySpan<float> x, ReadOnlySpan<float> rows, Span<float> results)
    {
        int d = x.Length, n = results.Length;
        if (rows.Length < (long)n * d) throw new ArgumentException($"rows holds {rows.Length} floats, fewer than {n} rows of {d}.", nameof(rows));
        int r = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            ref float xs = ref MemoryMarshal.GetReference(x);
            int wide = d & ~7;
            for (; r + 4 <= n; r += 4)
            {
                ref float r0 = ref MemoryMarshal.GetReference(rows.Slice(r * d, 4 * d));
                ref float r1 = ref Unsafe.Add(ref r0, d);
                ref float r2 = ref Unsafe.Add(ref r1, d);
                ref float r3 = ref Unsafe.Add(ref r2, d);
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
                for (int i = 0; i < wide; i += 8)
                {
                    var xv = Vector256.LoadUnsafe(ref xs, (nuint)i);
                    a0 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r0, (nuint)i), a0);
                    a1 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r1, (nuint)i), a1);
                    a2 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r2, (nuint)i), a2);
                    a3 = Vector256.FusedMultiplyAdd(xv, Vector256.LoadUnsafe(ref r3, (nuint)i), a3);
                }
                float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
                for (int i = wide; i < d; i++)
                {
                    float xi = Unsafe.Add(ref xs, i);
                    s0 += xi * Unsafe.Add(ref r0, i);
                    s1 += xi * Unsafe.Add(ref r1, i);
                    s2 += xi * Unsafe.Add(ref r2, i);
                    s3 += xi * Unsafe.Add(ref r3, i);
                }
                results[r] = s0;
                results[r + 1] = s1;
                results[r + 2] = s2;
                results[r + 3] = s3;
            }
        }
        for (; r < n; r++) results[r] = TensorPrimitives.Dot(x, rows.Slice(r * d, d));
    }

    /// <summary>
    /// Quantizes <paramref name="v"/> to int8 codes with one scale: v[j] ≈ scale * codes[j]. The scale maps the
    /// largest magnitude to 127 (symmetric, so zero stays exactly zero). Codes past v.Length are zeroed (padding).
    /// </summary>
    public static float QuantizeInt8(ReadOnlySpan<float> v, Span<sbyte> codes)
    {
        float max = v.IsEmpty ? 0f : MathF.Abs(TensorPrimitives.MaxMagnitude(v)); // MaxMagnitude keeps the sign.
        float scale = max > 0f && float.IsFinite(max) ? max / 127f : 0f;
        float inv = scale > 0f ? 1f / scale : 0f;
        for (int j = 0; j < v.Length; j++) codes[j] = (sbyte)Math.Clamp(MathF.Round(v[j] * inv), -127f, 127f);
        codes[v.Length..].Clear();
        return scale;
    }

    /// <summary>
    /// Quantizes a query to int16 codes in [-<see cref="QueryQuantMax"/>, <see cref="QueryQuantMax"/>]: 13 bits keep
    /// the query's own rounding error far below the items' int8 error. Returns the scale (q[j] ≈ scale * codes[j]).
    /// </summary>
    public static float QuantizeInt16(ReadOnlySpan<float> v, Span<short> codes)
    {
        float max = v.IsEmpty ? 0f : MathF.Abs(TensorPrimitives.MaxMagnitude(v)); // MaxMagnitude keeps the sign.
        float scale = max > 0f && float.IsFinite(max) ? max / QueryQuantMax : 0f;
        float inv = scale > 0f ? 1f / scale : 0f;
        for (int j = 0; j < v.Length; j++) codes[j] = (short)Math.Clamp(MathF.Round(v[j] * inv), -QueryQuantMax, QueryQuantMax);
        codes[v.Length..].Clear();
        return scale;
    }

    /// <summary>
    /// Integer dot product of int8 item codes with int16 query codes; <paramref name="paddedLength"/> is a multiple of 16.
    /// On AVX2 each step sign-extends 16 codes to int16 (vpmovsxbw) and multiplies-adds pairs into int32 (vpmaddwd):
    /// 4 steps for 64 dimensions, one cache line of item data.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe int DotInt8Int16(sbyte* item, short* query, int paddedLength)
    {
        if (Avx2.IsSupported)
        {
            var acc0 = Vector256<int>.Zero;
            var acc1 = Vector256<int>.Zero;
            int i = 0;
            for (; i + 32 <= paddedLength; i += 32)
            {
                acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(item + i), Vector256.Load(query + i)));
                acc1 = Avx2.Add(acc1, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(item + i + 16), Vector256.Load(query + i + 16)));
            }
            if (i < paddedLength) acc0 = Avx2.Add(acc0, Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(item + i), Vector256.Load(query + i)));
            return Vector256.Sum(acc0 + acc1);
        }
        int sum = 0;
        for (int i = 0; i < paddedLength; i++) sum += item[i] * query[i];
        return sum;
    }

    /// <summary>Hints the cache lines of n floats at <paramref name="start"/> into L1; a no-op where SSE is absent.
    /// For memory read soon but far away (a mapped row): issued early, its miss overlaps other work.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe void Prefetch(ref readonly float start, int n)
    {
        if (!Sse.IsSupported) return;
        // A hint may point anywhere; the object is not pinned because a stale address after a GC move is harmless.
        var p = (byte*)Unsafe.AsPointer(ref Unsafe.AsRef(in start));
        for (var offset = 0; offset < n * sizeof(float); offset += 64) Sse.Prefetch0(p + offset);
    }

    /// <summary>Hints a span's cache lines into L1 (<see cref="Prefetch(ref readonly float, int)"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(ReadOnlySpan<float> values) => Prefetch(in MemoryMarshal.GetReference(values), values.Length);

    /// <summary>Rounds <paramref name="n"/> up to a multiple of <paramref name="multiple"/> (a power of two).</summary>
    public static int RoundUp(int n, int multiple) => (n + multiple - 1) & ~(multiple - 1);

    public static long RoundUp(long n, long multiple) => (n + multiple - 1) & ~(multiple - 1);
}
