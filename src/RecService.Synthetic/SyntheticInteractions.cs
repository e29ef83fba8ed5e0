using RecService.Core.Sampling;
using RecService.Core.Sparse;

namespace RecService.Synthetic;

/// <summary>
/// A seeded users x items play-count matrix shaped like listening data (Zipf item popularity, log-normal user
/// activity), for benchmarks that should not depend on files. Not a model of taste: no latent structure.
/// </summary>
public static class SyntheticInteractions
{
    public static CsrMatrix Generate(int users, int items, long nonZeros, ulong seed = 7, double zipfExponent = 0.9)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(users, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(items, 1);
        if (nonZeros < 0 || nonZeros > (long)users * items) throw new ArgumentOutOfRangeException(nameof(nonZeros));
        var state = SplitMix64.Mix(seed);

        // Cumulative Zipf weights for inverse-CDF sampling of items.
        var cumulative = new double[items];
        double total = 0;
        for (var i = 0; i < items; i++) cumulative[i] = total += Math.Pow(i + 1, -zipfExponent);

        // Activity ~ exp(N(0, 1)), rescaled to hit the requested nnz before de-duplication.
        var activity = new double[users];
        double activitySum = 0;
        for (var u = 0; u < users; u++) activitySum += activity[u] = Math.Exp(Normal(ref state));
        var pointers = new int[users + 1];
        var indices = new List<int>((int)Math.Min(nonZeros + users, int.MaxValue - 64));
        var values = new List<float>(indices.Capacity);
        var row = new SortedSet<int>();
        for (var u = 0; u < users; u++)
        {
            var want = (int)Math.Clamp(Math.Round(activity[u] / activitySum * nonZeros), 1, items);
            row.Clear();
            // Popular items saturate; cap the attempts so a heavy user cannot loop forever.
            for (var attempt = 0; row.Count < want && attempt < want * 8; attempt++)
            {
                var target = Unit(ref state) * total;
                var i = Array.BinarySearch(cumulative, target);
                row.Add(Math.Min(i < 0 ? ~i : i, items - 1));
            }
            foreach (var i in row)
            {
                indices.Add(i);
                values.Add(1 + (float)Math.Floor(-Math.Log(1 - Unit(ref state)) * 4)); // geometric-ish play counts, mean ~4
            }
            pointers[u + 1] = indices.Count;
        }
        return new CsrMatrix(users, items, pointers, [.. indices], [.. values]);
    }

    private static double Unit(ref ulong state) => (SplitMix64.Next(ref state) >> 11) * (1.0 / (1UL << 53));

    private static double Normal(ref ulong state)
    {
        // Box-Muller; 1 - Unit keeps the log argument in (0, 1].
        var u1 = 1 - Unit(ref state);
        var u2 = Unit(ref state);
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }
}
