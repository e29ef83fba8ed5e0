using RecService.Core.Sparse;

namespace RecService.Training.Cooccurrence;

/// <summary>
/// Each item's nearest items by the shrunk cosine of their listener sets: co(i, j) / (sqrt(n_i n_j) + shrinkage), with
/// co the users who played both and n the users who played each. Exact: item i is compared only with the items its
/// listeners played (cost: the sum over users of their distinct items squared).
/// </summary>
public static class CooccurrenceNeighbours
{
    /// <param name="plays">Users x items; any positive value counts as one listener.</param>
    /// <param name="maxUserItems">A user with more items than this is left out of the counts: one omnivorous listener
    /// would link everything to everything and cost the square of their history.</param>
    public static CsrMatrix Compute(CsrMatrix plays, int k, double shrinkage, int maxUserItems = 2_000, int threads = 0, CancellationToken ct = default)
    {
        // Every play counts as one listener: the sum over shared users is the number of users who played both.
        var listened = new CsrMatrix(plays.Rows, plays.Columns, plays.RowPointers, plays.ColumnIndices, Ones(plays.NonZeros));
        var counts = new int[plays.Columns];
        for (var u = 0; u < plays.Rows; u++)
            if (plays.RowLength(u) <= maxUserItems)
                foreach (var i in plays.RowIndices(u)) counts[i]++;
        return PostingNeighbours.Nearest(listened.Transpose(), listened, k, maxUserItems,
            (i, j, co) => (float)(co / (Math.Sqrt((double)counts[i] * counts[j]) + shrinkage)), threads, ct);
    }

    private static float[] Ones(int n)
    {
        var ones = new float[n];
        Array.Fill(ones, 1f);
        return ones;
    }
}
