using RecService.Core.Sparse;
using RecService.Core.Vectors;

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
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var items = plays.Columns;
        var listeners = plays.Transpose(); // items x users
        var counts = new int[items];
        for (var u = 0; u < plays.Rows; u++)
            if (plays.RowLength(u) <= maxUserItems)
                foreach (var i in plays.RowIndices(u)) counts[i]++;
        var neighbours = new int[(long)items * k > int.MaxValue ? throw new ArgumentOutOfRangeException(nameof(k)) : items * k];
        var similarities = new float[items * k];
        var found = new int[items];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = ct };
        Parallel.For(0, items, parallel, () => (Co: new int[items], Touched: new List<int>()), (i, _, ws) =>
        {
            foreach (var u in listeners.RowIndices(i))
            {
                var row = plays.RowIndices(u);
                if (row.Length > maxUserItems) continue;
                foreach (var j in row)
                {
                    if (j == i) continue;
                    if (ws.Co[j]++ == 0) ws.Touched.Add(j);
                }
            }
            var best = new TopK(similarities.AsSpan(i * k, k), neighbours.AsSpan(i * k, k));
            foreach (var j in ws.Touched)
            {
                best.Add((float)(ws.Co[j] / (Math.Sqrt((double)counts[i] * counts[j]) + shrinkage)), j);
                ws.Co[j] = 0;
            }
            ws.Touched.Clear();
            found[i] = best.SortDescending();
            return ws;
        }, _ => { });
        var pointers = new int[items + 1];
        for (var i = 0; i < items; i++) pointers[i + 1] = pointers[i] + found[i];
        var ids = new int[pointers[items]];
        var values = new float[pointers[items]];
        for (var i = 0; i < items; i++)
        {
            neighbours.AsSpan(i * k, found[i]).CopyTo(ids.AsSpan(pointers[i]));
            similarities.AsSpan(i * k, found[i]).CopyTo(values.AsSpan(pointers[i]));
        }
        return new CsrMatrix(items, items, pointers, ids, values);
    }
}
