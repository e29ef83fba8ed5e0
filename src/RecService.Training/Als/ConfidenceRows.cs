using RecService.Core.Sparse;

namespace RecService.Training.Als;

/// <summary>
/// One orientation of the interactions (users x items, or its transpose) turned into what a half-step needs per
/// non-zero: c*p (the right-hand side weight) and c - 1 (the extra weight over the shared Y^T Y), precomputed once
/// so the solvers never evaluate a log or a branch per entry per iteration. Rows are also cut into work chunks of
/// roughly equal cost, fixed by the matrix alone (never by the thread count).
/// </summary>
internal sealed class ConfidenceRows
{
    /// <summary>Cost of a row in nnz-equivalents beyond its entries: the four f x f matrix-vector products of CG.</summary>
    private const int RowOverhead = 16;

    /// <summary>About this many chunks per half-step: enough for Parallel.For to balance 2..64 cores.</summary>
    private const int TargetChunks = 2048;

    public ConfidenceRows(CsrMatrix matrix, AlsOptions options)
    {
        Rows = matrix.Rows;
        RowPointers = matrix.RowPointers;
        ColumnIndices = matrix.ColumnIndices;
        var values = matrix.Values;
        WeightedPreference = new float[values.Length];
        ExtraConfidence = new float[values.Length];
        var parameters = options.Parameters;
        for (var k = 0; k < values.Length; k++)
        {
            var v = values[k];
            if (float.IsNaN(v)) throw new ArgumentException($"Interaction value {k} is NaN.", nameof(matrix));
            if (v <= 0) continue; // p = 0 and c = 1: the same as an absent entry.
            // Deliberately not clamped: an overflow to Inf is what the trainer's divergence guard exists to catch.
            var extra = parameters.ExtraConfidence(v);
            ExtraConfidence[k] = extra;
            WeightedPreference[k] = 1f + extra;
        }

        MaxExtraConfidence = new float[Rows];
        for (var r = 0; r < Rows; r++)
        {
            for (var k = RowPointers[r]; k < RowPointers[r + 1]; k++) MaxExtraConfidence[r] = Math.Max(MaxExtraConfidence[r], ExtraConfidence[k]);
        }

        var totalCost = (long)values.Length + (long)Rows * RowOverhead;
        var target = Math.Max(1, totalCost / TargetChunks);
        var starts = new List<int> { 0 };
        long cost = 0;
        for (var r = 0; r < Rows; r++)
        {
            var length = RowPointers[r + 1] - RowPointers[r];
            MaxRowLength = Math.Max(MaxRowLength, length);
            cost += length + RowOverhead;
            if (cost >= target && r + 1 < Rows)
            {
                starts.Add(r + 1);
                cost = 0;
            }
        }
        starts.Add(Rows);
        ChunkStarts = [.. starts];
    }

    public int Rows { get; }
    public int[] RowPointers { get; }
    public int[] ColumnIndices { get; }

    /// <summary>c * p per non-zero.</summary>
    public float[] WeightedPreference { get; }

    /// <summary>c - 1 per non-zero.</summary>
    public float[] ExtraConfidence { get; }

    /// <summary>The largest c - 1 of each row: what makes a row ill-conditioned (<see cref="ConjugateGradientSolver"/>).</summary>
    public float[] MaxExtraConfidence { get; }

    /// <summary>Chunk i covers rows ChunkStarts[i] .. ChunkStarts[i+1].</summary>
    public int[] ChunkStarts { get; }

    public int ChunkCount => ChunkStarts.Length - 1;
    public int MaxRowLength { get; }
}
