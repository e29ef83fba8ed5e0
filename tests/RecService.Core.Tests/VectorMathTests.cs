using RecService.Core.Forest;
using RecService.Core.Vectors;
using RecService.Synthetic;

namespace RecService.Core.Tests;

public class VectorMathTests
{
    [Theory]
    [InlineData(16)]
    [InlineData(64)]
    [InlineData(80)]
    public unsafe void Int8_int16_dot_matches_scalar(int padded)
    {
        var rng = new Random(3);
        var item = new sbyte[padded];
        var query = new short[padded];
        long expected = 0;
        for (int j = 0; j < padded; j++)
        {
            item[j] = (sbyte)rng.Next(-127, 128);
            query[j] = (short)rng.Next(-VectorMath.QueryQuantMax, VectorMath.QueryQuantMax + 1);
            expected += item[j] * query[j];
        }
        fixed (sbyte* pi = item)
        fixed (short* pq = query)
            Assert.Equal(expected, VectorMath.DotInt8Int16(pi, pq, padded));
    }

    [Fact]
    public unsafe void The_64_wide_code_kernels_match_scalar_at_the_extremes()
    {
        // Every kernel this machine can run, on random codes and on the extreme codes (where int16 pairs summed by
        // multiply-add-adjacent come closest to overflowing).
        var rng = new Random(9);
        var item = new sbyte[64];
        var query = new short[64];
        for (var round = 0; round < 200; round++)
        {
            for (var j = 0; j < 64; j++)
            {
                item[j] = round == 0 ? (sbyte)-127 : round == 1 ? (sbyte)127 : (sbyte)rng.Next(-127, 128);
                query[j] = round < 2 ? (short)VectorMath.QueryQuantMax : (short)rng.Next(-VectorMath.QueryQuantMax, VectorMath.QueryQuantMax + 1);
            }
            long expected = 0;
            for (var j = 0; j < 64; j++) expected += item[j] * query[j];
            fixed (sbyte* pi = item)
            fixed (short* pq = query)
            {
                if (System.Runtime.Intrinsics.X86.Avx2.IsSupported) Assert.Equal(expected, new ForestKernels.Dot64Avx2(pq).Dot(pi));
                if (System.Runtime.Intrinsics.X86.Avx512BW.IsSupported) Assert.Equal(expected, new ForestKernels.Dot64(pq).Dot(pi));
                Assert.Equal(expected, new ForestKernels.DotPadded(pq, 64).Dot(pi));
            }
        }
    }

    [Fact]
    public void Quantized_dot_approximates_float_dot()
    {
        var rng = new Random(5);
        const int d = 64;
        var y = new float[d];
        var q = new float[d];
        for (int j = 0; j < d; j++) { y[j] = (float)(rng.NextDouble() * 2 - 1); q[j] = (float)(rng.NextDouble() * 2 - 1); }
        var codes = new sbyte[d];
        var qCodes = new short[d];
        float sy = VectorMath.QuantizeInt8(y, codes);
        float sq = VectorMath.QuantizeInt16(q, qCodes);
        long dot = 0;
        for (int j = 0; j < d; j++) dot += codes[j] * qCodes[j];
        float exact = VectorMath.Dot(y, q);
        // int8 rounding: each component off by at most scale/2, so the error is bounded by |q|_1 * sy / 2 (plus the query's).
        float bound = 0.5f * sy * q.Sum(MathF.Abs) + 0.5f * sq * y.Sum(MathF.Abs);
        Assert.InRange(dot * sy * sq, exact - bound, exact + bound);
    }

    [Fact]
    public void TopK_keeps_the_best_sorted_with_ties_by_smaller_id()
    {
        var top = new TopK(new float[3], new int[3]);
        float[] s = [0.5f, 0.9f, 0.1f, 0.9f, 0.7f, 0.2f];
        for (int i = 0; i < s.Length; i++) top.Add(s[i], i);
        Assert.Equal(3, top.SortDescending());
        Assert.Equal([1, 3, 4], top.Ids.ToArray());
        Assert.Equal([0.9f, 0.9f, 0.7f], top.Scores.ToArray());
    }

    [Theory]
    [InlineData(64, 8)]
    [InlineData(64, 3)]
    [InlineData(19, 7)]
    [InlineData(5, 4)]
    public void Dot_rows_matches_one_dot_per_row(int dims, int rows)
    {
        var rng = new Random(dims * 31 + rows);
        var x = new float[dims];
        var packed = new float[dims * rows];
        for (int j = 0; j < dims; j++) x[j] = (float)(rng.NextDouble() * 2 - 1);
        for (int j = 0; j < packed.Length; j++) packed[j] = (float)(rng.NextDouble() * 2 - 1);
        var results = new float[rows];
        VectorMath.DotRows(x, packed, results);
        for (int r = 0; r < rows; r++)
            Assert.Equal(VectorMath.Dot(x, packed.AsSpan(r * dims, dims)), results[r], 1e-4f);
        Assert.Throws<ArgumentException>(() => VectorMath.DotRows(x, packed.AsSpan(1), results));
    }

    [Theory]
    [InlineData(32)] // pooled: an unordered array and a vector scan for the worst
    [InlineData(13)] // pooled, with padding in the last vector
    [InlineData(100)] // above MaxPooled: the heap
    public unsafe void Candidate_pool_keeps_what_a_heap_keeps(int capacity)
    {
        var rng = new Random(capacity);
        var scores = new float[CandidatePool.PaddedLength(capacity)];
        var slots = new int[capacity];
        var heapScores = new float[capacity];
        var heapIds = new int[capacity];
        fixed (float* ps = scores)
        fixed (int* pi = slots)
        {
            var pool = new CandidatePool(ps, pi, capacity);
            var heap = new TopK(heapScores, heapIds);
            // Scores on a coarse grid so many tie.
            foreach (var slot in Enumerable.Range(0, 5000).OrderBy(_ => rng.Next()))
            {
                float score = rng.Next(0, 400) / 4f;
                Assert.Equal(heap.Threshold, pool.Threshold);
                Assert.Equal(heap.IsFull, pool.IsFull);
                if (score >= pool.Threshold) // ties at the cut too: the smaller slot enters
                {
                    pool.Add(score, slot);
                    heap.Add(score, slot);
                }
            }
            Assert.Equal(capacity, pool.Count);
            Assert.Equal(heap.Ids.ToArray().Order(), pool.Slots.ToArray().Order());
        }
    }

    [Fact]
    public void Npy_round_trips_and_rejects_other_dtypes()
    {
        string path = TestData.TempPath("m.npy");
        try
        {
            float[] data = [1f, 2f, 3f, 4f, 5f, -6.5f];
            NpyFile.WriteFloat32Matrix(path, data, 2, 3);
            var (read, rows, cols) = NpyFile.ReadFloat32Matrix(path);
            Assert.Equal((2, 3), (rows, cols));
            Assert.Equal(data, read);
            var bytes = File.ReadAllBytes(path);
            Assert.Equal(0, (bytes.Length - 24) % 64); // data starts 64-byte aligned
            var text = System.Text.Encoding.Latin1.GetString(bytes);
            File.WriteAllBytes(path, System.Text.Encoding.Latin1.GetBytes(text.Replace("<f4", "<f8")));
            Assert.Throws<InvalidDataException>(() => NpyFile.ReadFloat32Matrix(path));
            File.WriteAllBytes(path, bytes[..^4]);
            Assert.Throws<InvalidDataException>(() => NpyFile.ReadFloat32Matrix(path));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Synthetic_factors_are_deterministic_per_seed()
    {
        var a = SyntheticFactors.Generate(new SyntheticFactors.Options(500, 8, 10, 42));
        var b = SyntheticFactors.Generate(new SyntheticFactors.Options(500, 8, 10, 42));
        var c = SyntheticFactors.Generate(new SyntheticFactors.Options(500, 8, 10, 43));
        Assert.Equal(a.Items, b.Items);
        Assert.Equal(a.Queries, b.Queries);
        Assert.NotEqual(a.Items, c.Items);
    }
}
