using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>The forest's SIMD kernels: the leaf scan on int8 codes, its code layouts and dot products.</summary>
internal static unsafe class ForestKernels
{
    /// <summary>How many leaf entries ahead the scan prefetches codes: about the number of code loads a core keeps in flight.</summary>
    private const int PrefetchDistance = 8;

    /// <summary>Sets a slot's visited flag; returns 1 (and records the slot for clearing) if it was not set.</summary>
    public static int Mark(byte* visited, int* touchedOut, int slot)
    {
        if (visited[slot] != 0) return 0;
        visited[slot] = 1;
        *touchedOut = slot;
        return 1;
    }

    /// <summary>
    /// Scores a leaf's unvisited items on their int8 codes and offers those above the cut to the candidate pool.
    /// Static with every pointer passed in, so the loop keeps them in registers; generic over the code layout and the
    /// kernel so each pairing compiles to its own loop. Returns how many slots it marked visited (appended at
    /// <paramref name="touchedOut"/>, which has room for one more), or, on a slot out of range, the bitwise complement
    /// of that count.
    /// </summary>
    /// <remarks>
    /// No branch depends on the data per item: whether a slot was visited and whether its score enters the pool are
    /// both unpredictable (about a fifth of a leaf's slots were seen in another tree; about one score in seven enters),
    /// and as branches their mispredictions cost more than scoring the visited items for nothing. So every item is
    /// scored into a 64-entry buffer with its "new" flag in a bit mask, and a vector compare against the cut picks the
    /// few to offer. Measured at 1M x 64 (dot, search-k 1000): 11% more queries per second than branching per item.
    /// </remarks>
    [SkipLocalsInit]
    public static int ScanLeaf<TDot, TCodes>(int* slots, int length, uint count, byte* visited, int* touchedOut, int* slotItems, TDot dot, TCodes codes,
        ref CandidatePool candidates, ref float threshold)
        where TDot : struct, ICodeDot
        where TCodes : struct, ILeafCodes
    {
        const int Chunk = 64; // one ulong of "new" flags
        float* approx = stackalloc float[Chunk];
        codes.Begin(slots, length, count);
        int marked = 0;
        float limit = threshold;
        for (int start = 0; start < length; start += Chunk)
        {
            int n = Math.Min(Chunk, length - start);
            int* chunk = slots + start;
            ulong fresh = 0;
            for (int i = 0; i < n; i++)
            {
                int slot = chunk[i];
                if ((uint)slot >= count) return ~marked;
                codes.Ahead(slots, start + i, length, count);
                // A byte per slot, not a bit: neighbouring slots of a leaf share a 64-bit word, and a read-modify-write
                // of that word had to wait for the previous item's store (+3-6% q/s at 1M x 64 dot, +6-12% at 200k).
                ulong isNew = (uint)(visited[slot] ^ 1);
                visited[slot] = 1;
                touchedOut[marked] = slot; // kept only if new: the next slot overwrites it otherwise
                marked += (int)isNew;
                fresh |= isNew << i;
                approx[i] = codes.Scale(start + i, slot) * dot.Dot(codes.Row(start + i, slot));
            }
            for (ulong above = AboveMask(approx, n, limit) & fresh; above != 0; above &= above - 1)
            {
                int i = BitOperations.TrailingZeroCount(above);
                if (approx[i] > limit) // the cut rises as candidates enter
                {
                    candidates.Add(approx[i], chunk[i]);
                    limit = candidates.Threshold;
                    // The re-rank maps the pool's slots to ids: a candidate's entry is requested when it enters.
                    if (Sse.IsSupported) Sse.Prefetch0(slotItems + chunk[i]);
                }
            }
        }
        threshold = limit;
        return marked;
    }

    /// <summary>Bit i set when values[i] > limit, for i below n (at most 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong AboveMask(float* values, int n, float limit)
    {
        ulong mask = 0;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var cut = Vector256.Create(limit);
            for (; i + 8 <= n; i += 8) mask |= (ulong)Vector256.GreaterThan(Vector256.Load(values + i), cut).ExtractMostSignificantBits() << i;
        }
        for (; i < n; i++) mask |= (values[i] > limit ? 1UL : 0UL) << i;
        return mask;
    }

    /// <summary>The integer dot product of one item's int8 codes with the query's int16 codes.</summary>
    public interface ICodeDot
    {
        int Dot(sbyte* row);
    }

    /// <summary>64 dimensions on AVX-512: the query's 64 codes stay in two registers and a row is one cache line, read as
    /// two 32-code halves widened to int16 (the common case: ALS factors are 64 wide).</summary>
    public readonly struct Dot64(short* query) : ICodeDot
    {
        private readonly Vector512<short> _low = Vector512.Load(query), _high = Vector512.Load(query + 32);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Dot(sbyte* row) => Vector512.Sum(
            Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(row)), _low) +
            Avx512BW.MultiplyAddAdjacent(Avx512BW.ConvertToVector512Int16(Vector256.Load(row + 32)), _high));
    }

    /// <summary>64 dimensions on AVX2 (no AVX-512): the query's 64 codes stay in four registers, a row's 64 codes are
    /// widened to int16 a quarter at a time, and the four partial sums are added before one horizontal sum.</summary>
    public readonly struct Dot64Avx2(short* query) : ICodeDot
    {
        private readonly Vector256<short> _q0 = Vector256.Load(query), _q1 = Vector256.Load(query + 16),
            _q2 = Vector256.Load(query + 32), _q3 = Vector256.Load(query + 48);

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Dot(sbyte* row) => Vector256.Sum(
            Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.Load(row)), _q0) +
            Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.Load(row + 16)), _q1) +
            (Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.Load(row + 32)), _q2) +
             Avx2.MultiplyAddAdjacent(Avx2.ConvertToVector256Int16(Vector128.Load(row + 48)), _q3)));
    }

    /// <summary>Any padded width (a multiple of 16), on AVX2 or scalar.</summary>
    public readonly struct DotPadded(short* query, int padded) : ICodeDot
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public int Dot(sbyte* row) => VectorMath.DotInt8Int16(row, query, padded);
    }

    /// <summary>Where a leaf's codes and scales are: by position in the leaf (j) or by slot.</summary>
    public interface ILeafCodes
    {
        void Begin(int* slots, int length, uint count);
        void Ahead(int* slots, int j, int length, uint count);
        sbyte* Row(int j, int slot);
        float Scale(int j, int slot);
    }

    /// <summary>A coded tree's leaf: its codes and scales are in leaf order, read sequentially (the hardware prefetches them).</summary>
    public readonly struct LeafOrderedCodes(sbyte* codes, float* scales, int padded) : ILeafCodes
    {
        public void Begin(int* slots, int length, uint count) { }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Ahead(int* slots, int j, int length, uint count) { }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte* Row(int j, int slot) => codes + (long)j * padded;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Scale(int j, int slot) => scales[j];
    }

    /// <summary>Another tree's leaf: each item's codes are in tree 0's block by slot, scattered, so they are prefetched
    /// a few entries ahead.</summary>
    public readonly struct SlotOrderedCodes(sbyte* codes, float* scales, int padded) : ILeafCodes
    {
        public void Begin(int* slots, int length, uint count)
        {
            if (!Sse.IsSupported) return;
            for (int j = 0; j < length && j < PrefetchDistance; j++)
                if ((uint)slots[j] < count) Sse.Prefetch0(codes + (long)slots[j] * padded);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public void Ahead(int* slots, int j, int length, uint count)
        {
            if (!Sse.IsSupported || j + PrefetchDistance >= length) return;
            int ahead = slots[j + PrefetchDistance];
            if ((uint)ahead < count) Sse.Prefetch0(codes + (long)ahead * padded);
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public sbyte* Row(int j, int slot) => codes + (long)slot * padded;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public float Scale(int j, int slot) => scales[slot];
    }
}
