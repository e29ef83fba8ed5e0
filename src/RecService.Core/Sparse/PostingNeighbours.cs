using RecService.Core.Vectors;

namespace RecService.Core.Sparse;

/// <summary>
/// Each item's exact nearest items through shared features: item i is compared only with the items of the postings its
/// features appear in (tags shared, listeners shared), accumulating sum over shared features of the two values, then
/// scored from that sum. The cost is the sum over features of their posting's length squared; a feature on more than
/// <c>maxPosting</c> items is left out (it says little and would cost the square of its length).
/// </summary>
public static class PostingNeighbours
{
    /// <summary>
    /// Up to <paramref name="k"/> neighbours per item, best first (ties: lower index), never the item itself nor an item
    /// whose sum is not positive, as items x items rows (values the scores).
    /// </summary>
    /// <param name="items">Items x features.</param>
    /// <param name="postings">Features x items: the transpose of <paramref name="items"/>, or the same structure with other values.</param>
    /// <param name="score">The score of (item, other, accumulated sum); null scores by the sum itself.</param>
    public static CsrMatrix Nearest(CsrMatrix items, CsrMatrix postings, int k, int maxPosting, Func<int, int, float, float>? score = null,
        int threads = 0, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var n = items.Rows;
        if (postings.Columns != n || postings.Rows != items.Columns) throw new ArgumentException($"Postings are {postings.Rows} x {postings.Columns}, expected {items.Columns} x {n}.", nameof(postings));
        var neighbours = new int[(long)n * k > int.MaxValue ? throw new ArgumentOutOfRangeException(nameof(k)) : n * k];
        var scores = new float[n * k];
        var found = new int[n];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount, CancellationToken = ct };
        Parallel.For(0, n, parallel, () => (Sums: new float[n], Touched: new List<int>()), (i, _, ws) =>
        {
            var features = items.RowIndices(i);
            var values = items.RowValues(i);
            for (var f = 0; f < features.Length; f++)
            {
                var posting = postings.RowIndices(features[f]);
                if (posting.Length > maxPosting) continue;
                var weights = postings.RowValues(features[f]);
                for (var p = 0; p < posting.Length; p++)
                {
                    var other = posting[p];
                    if (other == i) continue;
                    if (ws.Sums[other] == 0) ws.Touched.Add(other);
                    ws.Sums[other] += values[f] * weights[p];
                }
            }
            var best = new TopK(scores.AsSpan(i * k, k), neighbours.AsSpan(i * k, k));
            foreach (var other in ws.Touched)
            {
                var sum = ws.Sums[other];
                if (sum > 0) best.Add(score is null ? sum : score(i, other, sum), other);
                ws.Sums[other] = 0;
            }
            ws.Touched.Clear();
            found[i] = best.SortDescending();
            return ws;
        }, _ => { });
        var pointers = new int[n + 1];
        for (var i = 0; i < n; i++) pointers[i + 1] = pointers[i] + found[i];
        var ids = new int[pointers[n]];
        var packed = new float[pointers[n]];
        for (var i = 0; i < n; i++)
        {
            neighbours.AsSpan(i * k, found[i]).CopyTo(ids.AsSpan(pointers[i]));
            scores.AsSpan(i * k, found[i]).CopyTo(packed.AsSpan(pointers[i]));
        }
        return new CsrMatrix(n, n, pointers, ids, packed);
    }
}
