using RecService.Core.Sparse;
using RecService.Training.Word2Vec;

namespace RecService.Training.Ensemble;

/// <summary>
/// Which items go together in data the parts were not trained on: "baskets" of items, each a user's held-out plays
/// (the hold-out split's test pairs) or a held-out playlist or session. A candidate is related to a seed when they share
/// a basket more often than chance, with n(x) the baskets holding
/// x and N all baskets, beyond chance: co(s, c) >= E + 2 sqrt(E), with E = n(s) n(c) / N the baskets two independent items
/// would share (two Poisson deviations above it). A popular item shares baskets with almost anything; a plain lift
/// >= 1 still calls it related to half the catalog, and a blend learned on that label ranks by popularity. The blend
/// learns from this label, and related-items precision is measured against it.
/// </summary>
public sealed class HeldOutEvidence
{
    private readonly CsrMatrix _baskets;   // baskets x items
    private readonly CsrMatrix _holding;   // items x baskets
    [ThreadStatic] private static (int[] Counts, List<int> Touched)? t_scratch;

    public HeldOutEvidence(int items, CsrMatrix? heldOutPairs, TokenSequences? heldOutSequences)
    {
        var pointers = new List<int> { 0 };
        var indices = new List<int>();
        var seen = new HashSet<int>();
        void Basket(ReadOnlySpan<int> basket)
        {
            seen.Clear();
            foreach (var i in basket)
                if (seen.Add(i)) indices.Add(i);
            if (seen.Count < 2)
            {
                indices.RemoveRange(indices.Count - seen.Count, seen.Count); // one item relates nothing
                return;
            }
            indices.Sort(pointers[^1], seen.Count, null);
            pointers.Add(indices.Count);
        }
        if (heldOutPairs is not null)
        {
            if (heldOutPairs.Columns != items) throw new ArgumentException($"Held-out pairs are over {heldOutPairs.Columns} items, not {items}.");
            for (var u = 0; u < heldOutPairs.Rows; u++) Basket(heldOutPairs.RowIndices(u));
        }
        if (heldOutSequences is not null)
        {
            if (heldOutSequences.Vocabulary != items) throw new ArgumentException($"Held-out sequences are over {heldOutSequences.Vocabulary} items, not {items}.");
            for (var s = 0; s < heldOutSequences.Count; s++) Basket(heldOutSequences[s]);
        }
        _baskets = new CsrMatrix(pointers.Count - 1, items, [.. pointers], [.. indices], new float[indices.Count]);
        _holding = _baskets.Transpose();
    }

    public int Items => _baskets.Columns;
    public int Baskets => _baskets.Rows;

    /// <summary>How many baskets hold <paramref name="item"/>.</summary>
    public int Count(int item) => _holding.RowLength(item);

    /// <summary>The items related to <paramref name="seed"/> (see the type), ascending, into <paramref name="related"/> (cleared first).</summary>
    public void Related(int seed, List<int> related)
    {
        related.Clear();
        var ns = Count(seed);
        if (ns == 0) return;
        var scratch = t_scratch;
        if (scratch is null || scratch.Value.Counts.Length < Items) t_scratch = scratch = (new int[Items], new List<int>());
        var (counts, touched) = scratch.Value;
        foreach (var b in _holding.RowIndices(seed))
            foreach (var c in _baskets.RowIndices(b))
            {
                if (c == seed) continue;
                if (counts[c]++ == 0) touched.Add(c);
            }
        foreach (var c in touched)
        {
            // Expected shared baskets if the two were independent, and the count two Poisson deviations above it.
            var expected = (double)ns * Count(c) / Baskets;
            if (counts[c] >= expected + 2 * Math.Sqrt(expected)) related.Add(c);
            counts[c] = 0;
        }
        touched.Clear();
        related.Sort();
    }
}
