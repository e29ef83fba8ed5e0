using RecService.Core.Sparse;
using RecService.Core.Vectors;

namespace RecService.Training.Tags;

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
    public static CsrMatrix Nearest(CsrMatrix weighted, int k, int maxPosting = 5_000, int threads = 0) =>
        PostingNeighbours.Nearest(weighted, weighted.Transpose(), k, maxPosting, threads: threads);
}
