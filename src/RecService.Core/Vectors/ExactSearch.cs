using System.Runtime.Intrinsics;

namespace RecService.Core.Vectors;

/// <summary>
/// Exact top-k by scanning every item: the baseline the forest is measured against and the ground truth of its
/// recall tests. Scores are cosine for <see cref="Metric.Cosine"/> and the inner product for <see cref="Metric.Dot"/>,
/// exactly as <see cref="Forest.ForestIndex"/> reports them. The batched form scores four queries per pass over an item
/// row (the row is loaded once, the queries stay in L1) and splits query blocks over threads.
/// </summary>
public sealed class ExactSearch
{
    private readonly float[] _vectors;
    private readonly float[] _inverseNorms; // 1/|y| for cosine (0 for a zero vector), all 1 for dot.

    public ExactSearch(float[] vectors, int count, int dims, Metric metric)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfLessThan(dims, 1);
        if ((long)count * dims > vectors.Length) throw new ArgumentException($"vectors holds {vectors.Length} floats, fewer than {count}x{dims}.");
        if (metric is not (Metric.Cosine or Metric.Dot)) throw new ArgumentOutOfRangeException(nameof(metric));
        _vectors = vectors;
        Count = count;
        Dimensions = dims;
        Metric = metric;
        _inverseNorms = new float[count];
        for (int i = 0; i < count; i++)
        {
            float n = metric == Metric.Cosine ? VectorMath.Norm(vectors.AsSpan(i * dims, dims)) : 1f;
            _inverseNorms[i] = n > 0f ? 1f / n : 0f;
        }
    }

    public int Count { get; }
    public int Dimensions { get; }
    public Metric Metric { get; }

    /// <summary>One query. Writes up to k results best first and returns how many (fewer only if fewer items remain
    /// after <paramref name="excluded"/>).</summary>
    public int Search(ReadOnlySpan<float> query, int k, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded = default)
    {
        if (query.Length != Dimensions) throw new ArgumentException($"query has {query.Length} dimensions, index has {Dimensions}.");
        k = Math.Min(k, Math.Min(ids.Length, scores.Length));
        if (k <= 0) return 0;
        var skip = excluded.IsEmpty ? null : new HashSet<int>(excluded.ToArray());
        var q = PrepareQuery(query);
        var top = new TopK(new float[k], new int[k]);
        var rows = _vectors.AsSpan();
        for (int i = 0; i < Count; i++)
        {
            if (skip is not null && skip.Contains(i)) continue;
            top.Add(VectorMath.Dot(q, rows.Slice(i * Dimensions, Dimensions)) * _inverseNorms[i], i);
        }
        int n = top.SortDescending();
        top.Ids.CopyTo(ids);
        top.Scores.CopyTo(scores);
        return n;
    }

    /// <summary>
    /// Many queries (row-major, <paramref name="queryCount"/> x Dimensions). Results are row-major queryCount x k in
    /// <paramref name="ids"/>/<paramref name="scores"/>; slots past the item count hold -1 / NaN.
    /// </summary>
    public void SearchBatch(ReadOnlySpan<float> queries, int queryCount, int k, int[] ids, float[] scores, int threads = 0)
    {
        if (queries.Length < (long)queryCount * Dimensions) throw new ArgumentException("queries is shorter than queryCount x Dimensions.");
        if (ids.Length < (long)queryCount * k || scores.Length < (long)queryCount * k) throw new ArgumentException("result arrays are too small.");
        const int Block = 4;
        var prepared = new float[queryCount * Dimensions];
        for (int qi = 0; qi < queryCount; qi++) PrepareQuery(queries.Slice(qi * Dimensions, Dimensions)).CopyTo(prepared.AsSpan(qi * Dimensions));
        int blocks = (queryCount + Block - 1) / Block;
        var options = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        Parallel.For(0, blocks, options, () => (new float[Block * k], new int[Block * k], new float[Block]), (b, _, scratch) =>
        {
            var (heapScores, heapIds, dots) = scratch;
            int q0 = b * Block, qn = Math.Min(Block, queryCount - q0);
            ScanBlock(prepared, q0, qn, k, heapScores, heapIds, dots, ids, scores);
            return scratch;
        }, _ => { });
    }

    private unsafe void ScanBlock(float[] prepared, int q0, int qn, int k, float[] heapScores, int[] heapIds, float[] dots, int[] outIds, float[] outScores)
    {
        int d = Dimensions;
        fixed (float* pq = prepared, pv = _vectors, pInv = _inverseNorms)
        {
            float* q0p = pq + (long)q0 * d;
            float* q1p = q0p + (qn > 1 ? d : 0), q2p = q0p + (qn > 2 ? 2 * d : 0), q3p = q0p + (qn > 3 ? 3 * d : 0);
            var h0 = new TopK(heapScores.AsSpan(0, k), heapIds.AsSpan(0, k));
            var h1 = new TopK(heapScores.AsSpan(k, k), heapIds.AsSpan(k, k));
            var h2 = new TopK(heapScores.AsSpan(2 * k, k), heapIds.AsSpan(2 * k, k));
            var h3 = new TopK(heapScores.AsSpan(3 * k, k), heapIds.AsSpan(3 * k, k));
            for (int i = 0; i < Count; i++)
            {
                float* row = pv + (long)i * d;
                Dot4(row, q0p, q1p, q2p, q3p, d, out float s0, out float s1, out float s2, out float s3);
                float inv = pInv[i];
                h0.Add(s0 * inv, i);
                if (qn > 1) h1.Add(s1 * inv, i);
                if (qn > 2) h2.Add(s2 * inv, i);
                if (qn > 3) h3.Add(s3 * inv, i);
            }
            Emit(ref h0, q0, k, outIds, outScores);
            if (qn > 1) Emit(ref h1, q0 + 1, k, outIds, outScores);
            if (qn > 2) Emit(ref h2, q0 + 2, k, outIds, outScores);
            if (qn > 3) Emit(ref h3, q0 + 3, k, outIds, outScores);
        }
    }

    private static void Emit(ref TopK heap, int query, int k, int[] outIds, float[] outScores)
    {
        int n = heap.SortDescending();
        var ids = outIds.AsSpan(query * k, k);
        var scores = outScores.AsSpan(query * k, k);
        heap.Ids.CopyTo(ids);
        heap.Scores.CopyTo(scores);
        ids[n..].Fill(-1);
        scores[n..].Fill(float.NaN);
    }

    /// <summary>Four dot products against one row: the row is read once per 8 lanes and reused four times.</summary>
    private static unsafe void Dot4(float* row, float* a, float* b, float* c, float* e, int d, out float s0, out float s1, out float s2, out float s3)
    {
        int j = 0;
        if (Vector256.IsHardwareAccelerated)
        {
            var acc0 = Vector256<float>.Zero; var acc1 = Vector256<float>.Zero;
            var acc2 = Vector256<float>.Zero; var acc3 = Vector256<float>.Zero;
            for (; j + 8 <= d; j += 8)
            {
                var r = Vector256.Load(row + j);
                acc0 = Vector256.FusedMultiplyAdd(r, Vector256.Load(a + j), acc0);
                acc1 = Vector256.FusedMultiplyAdd(r, Vector256.Load(b + j), acc1);
                acc2 = Vector256.FusedMultiplyAdd(r, Vector256.Load(c + j), acc2);
                acc3 = Vector256.FusedMultiplyAdd(r, Vector256.Load(e + j), acc3);
            }
            s0 = Vector256.Sum(acc0); s1 = Vector256.Sum(acc1); s2 = Vector256.Sum(acc2); s3 = Vector256.Sum(acc3);
        }
        else { s0 = s1 = s2 = s3 = 0f; }
        for (; j < d; j++)
        {
            float r = row[j];
            s0 += r * a[j]; s1 += r * b[j]; s2 += r * c[j]; s3 += r * e[j];
        }
    }

    /// <summary>Cosine scores need a unit query (item norms are divided out per row); dot scores use the query as given.</summary>
    private float[] PrepareQuery(ReadOnlySpan<float> query)
    {
        var q = query.ToArray();
        if (Metric == Metric.Cosine) VectorMath.NormalizeInPlace(q);
        return q;
    }
}
