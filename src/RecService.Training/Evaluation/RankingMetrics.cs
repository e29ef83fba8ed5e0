namespace RecService.Training.Evaluation;

/// <summary>
/// Top-k ranking metrics for one user with binary relevance. <c>ranked</c> is the recommended list, best first
/// (train items already removed); <c>relevant</c> is the user's held-out items, sorted ascending.
/// </summary>
public static class RankingMetrics
{
    /// <summary>Hits in the first k, divided by k.</summary>
    public static double PrecisionAtK(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k)
    {
        var hits = 0;
        for (var j = 0; j < Math.Min(k, ranked.Length); j++)
            if (relevant.BinarySearch(ranked[j]) >= 0) hits++;
        return (double)hits / k;
    }

    /// <summary>Average precision at k: the mean of precision@j over hit positions j &lt;= k, divided by min(k, |relevant|).</summary>
    public static double AveragePrecisionAtK(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k)
    {
        if (relevant.IsEmpty) return 0;
        double sum = 0;
        var hits = 0;
        for (var j = 0; j < Math.Min(k, ranked.Length); j++)
        {
            if (relevant.BinarySearch(ranked[j]) < 0) continue;
            hits++;
            sum += (double)hits / (j + 1);
        }
        return sum / Math.Min(k, relevant.Length);
    }

    /// <summary>DCG@k with gain 1/log2(position + 1), over the ideal DCG of min(k, |relevant|) hits at the top.</summary>
    public static double NdcgAtK(ReadOnlySpan<int> ranked, ReadOnlySpan<int> relevant, int k)
    {
        if (relevant.IsEmpty) return 0;
        double dcg = 0, ideal = 0;
        for (var j = 0; j < Math.Min(k, ranked.Length); j++)
            if (relevant.BinarySearch(ranked[j]) >= 0) dcg += 1 / Math.Log2(j + 2);
        for (var j = 0; j < Math.Min(k, relevant.Length); j++) ideal += 1 / Math.Log2(j + 2);
        return dcg / ideal;
    }

    /// <summary>
    /// Area under the ROC curve over all candidates: the fraction of (relevant, irrelevant) pairs the scores order
    /// correctly, ties counting half. Candidates are the items whose score is not -Inf (train items are excluded
    /// that way). O(n log |relevant|): the relevant scores are sorted once and each other score is binary-searched.
    /// </summary>
    public static double Auc(ReadOnlySpan<float> scores, ReadOnlySpan<int> relevant, Span<float> scratch)
    {
        var positives = scratch[..relevant.Length];
        for (var j = 0; j < relevant.Length; j++) positives[j] = scores[relevant[j]];
        positives.Sort();
        double correct = 0;
        long negatives = 0;
        var next = 0; // relevant is sorted, so walk it alongside the items instead of searching it
        for (var i = 0; i < scores.Length; i++)
        {
            if (next < relevant.Length && relevant[next] == i) { next++; continue; }
            var s = scores[i];
            if (float.IsNegativeInfinity(s)) continue;
            negatives++;
            var below = LowerBound(positives, s);         // positives strictly below s
            var notAbove = UpperBound(positives, s);      // positives <= s
            correct += relevant.Length - notAbove + 0.5 * (notAbove - below);
        }
        return negatives == 0 || relevant.IsEmpty ? 0.5 : correct / ((double)negatives * relevant.Length);
    }

    private static int LowerBound(ReadOnlySpan<float> sorted, float value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] < value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    private static int UpperBound(ReadOnlySpan<float> sorted, float value)
    {
        int lo = 0, hi = sorted.Length;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (sorted[mid] <= value) lo = mid + 1; else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// The k highest-scoring items, best first, skipping -Inf; ties go to the lower item index so the list is
    /// deterministic. Keeps a sorted buffer of k, so it is O(n + hits * k) rather than a full sort.
    /// </summary>
    public static int TopK(ReadOnlySpan<float> scores, int k, Span<int> result)
    {
        var count = 0;
        for (var i = 0; i < scores.Length; i++)
        {
            var s = scores[i];
            if (float.IsNegativeInfinity(s)) continue;
            if (count == k && !(s > scores[result[k - 1]])) continue;
            var pos = count < k ? count++ : k - 1;
            while (pos > 0 && s > scores[result[pos - 1]])
            {
                result[pos] = result[pos - 1];
                pos--;
            }
            result[pos] = i;
        }
        return count;
    }
}
