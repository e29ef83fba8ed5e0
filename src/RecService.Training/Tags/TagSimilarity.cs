using RecService.Core.Sparse;
using RecService.Core.Vectors;

namespace RecService.Training.Tags;

/// <summary>Each item's nearest items, best first: item i's are <c>Items[Offsets[i]..Offsets[i + 1]]</c> with their scores.</summary>
public sealed record NeighbourLists(int[] Offsets, int[] Items, float[] Scores)
{
    public int Count => Offsets.Length - 1;
    public ReadOnlySpan<int> Of(int item) => Items.AsSpan(Offsets[item], Offsets[item + 1] - Offsets[item]);
    public ReadOnlySpan<float> ScoresOf(int item) => Scores.AsSpan(Offsets[item], Offsets[item + 1] - Offsets[item]);
}

/// <summary>
/// The "cultural" signal: items described by the tags listeners give them. Each item becomes a sparse vector over
/// tags, weighted by TF-IDF with a saturating term frequency (log(1 + times applied): the hundredth user to tag an artist
/// "rock" says less than the second), rows scaled to unit length so a dot product of two rows is their cosine.
/// </summary>
public static class TagSimilarity
{
    /// <summary>Items x tags, TF-IDF weighted and row-normalised; an item without tags has an empty row.</summary>
    /// <param name="applied">Items x tags: how many times (or by how many users) each tag was applied.</param>
    public static CsrMatrix Weigh(CsrMatrix applied)
    {
        var items = applied.Rows;
        var tagged = 0;
        for (var i = 0; i < items; i++) if (applied.RowLength(i) > 0) tagged++;
        // Document frequency per tag, over the items that have any tags.
        var df = new int[applied.Columns];
        foreach (var t in applied.ColumnIndices) df[t]++;
        var idf = new float[applied.Columns];
        for (var t = 0; t < idf.Length; t++) idf[t] = df[t] == 0 ? 0f : MathF.Log((1f + tagged) / (1f + df[t])) + 1e-6f;
        var values = new float[applied.NonZeros];
        for (var i = 0; i < items; i++)
        {
            var start = applied.RowPointers[i];
            var row = values.AsSpan(start, applied.RowLength(i));
            var tags = applied.RowIndices(i);
            var counts = applied.RowValues(i);
            for (var k = 0; k < row.Length; k++) row[k] = counts[k] > 0 && float.IsFinite(counts[k]) ? MathF.Log(1 + counts[k]) * idf[tags[k]] : 0f;
            var norm = VectorMath.Norm(row);
            if (norm > 0) for (var k = 0; k < row.Length; k++) row[k] /= norm;
        }
        return new CsrMatrix(items, applied.Columns, applied.RowPointers, applied.ColumnIndices, values);
    }

    /// <summary>Cosine of two items' weighted rows (0 when either has no tags): a merge of their sorted tag lists.</summary>
    public static float Cosine(CsrMatrix weighted, int a, int b) =>
        SparseRows.Dot(weighted.RowIndices(a), weighted.RowValues(a), weighted.RowIndices(b), weighted.RowValues(b));

    /// <summary>
    /// The <paramref name="k"/> most similar items of every item (never itself, only cosine above 0), best first. Exact, through
    /// the tags' posting lists: an item is compared only with items sharing a tag. A tag on more than
    /// <paramref name="maxPosting"/> items is skipped for candidate generation (its IDF is near zero anyway).
    /// </summary>
    public static NeighbourLists Nearest(CsrMatrix weighted, int k, int maxPosting = 5_000, int threads = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(k, 1);
        var items = weighted.Rows;
        var postings = weighted.Transpose();
        var neighbours = new int[items * k];
        var cosines = new float[items * k];
        var counts = new int[items];
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = threads > 0 ? threads : Environment.ProcessorCount };
        Parallel.For(0, items, parallel, () => (Scores: new float[items], Touched: new List<int>()), (i, _, ws) =>
        {
            var tags = weighted.RowIndices(i);
            var values = weighted.RowValues(i);
            for (var t = 0; t < tags.Length; t++)
            {
                var posting = postings.RowIndices(tags[t]);
                if (posting.Length > maxPosting) continue;
                var weights = postings.RowValues(tags[t]);
                for (var p = 0; p < posting.Length; p++)
                {
                    var other = posting[p];
                    if (other == i) continue;
                    if (ws.Scores[other] == 0) ws.Touched.Add(other);
                    ws.Scores[other] += values[t] * weights[p];
                }
            }
            var best = new TopK(cosines.AsSpan(i * k, k), neighbours.AsSpan(i * k, k));
            foreach (var other in ws.Touched)
            {
                if (ws.Scores[other] > 0) best.Add(ws.Scores[other], other);
                ws.Scores[other] = 0;
            }
            ws.Touched.Clear();
            counts[i] = best.SortDescending();
            return ws;
        }, _ => { });
        var offsets = new int[items + 1];
        for (var i = 0; i < items; i++) offsets[i + 1] = offsets[i] + counts[i];
        var packedIds = new int[offsets[items]];
        var packedCos = new float[offsets[items]];
        for (var i = 0; i < items; i++)
        {
            neighbours.AsSpan(i * k, counts[i]).CopyTo(packedIds.AsSpan(offsets[i]));
            cosines.AsSpan(i * k, counts[i]).CopyTo(packedCos.AsSpan(offsets[i]));
        }
        return new NeighbourLists(offsets, packedIds, packedCos);
    }
}
