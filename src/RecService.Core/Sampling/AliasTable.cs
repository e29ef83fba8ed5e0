using System.Runtime.CompilerServices;

namespace RecService.Core.Sampling;

/// <summary>
/// Draws an index with probability proportional to its weight in O(1) (Walker's alias method, built by Vose's
/// linear-time procedure): one uniform column, then one biased coin between the column and its alias. Two arrays of
/// the table's length, where a cumulative table needs a binary search per draw and word2vec.c's 1e8-entry unigram
/// table needs 400 MB.
/// </summary>
public sealed class AliasTable
{
    // Column i keeps itself when the 32-bit coin is below _keep[i], else yields _alias[i].
    private readonly uint[] _keep;
    private readonly int[] _alias;

    public AliasTable(ReadOnlySpan<double> weights)
    {
        var n = weights.Length;
        if (n == 0) throw new ArgumentException("An alias table needs at least one weight.", nameof(weights));
        var total = 0.0;
        foreach (var w in weights)
        {
            if (!(w >= 0) || double.IsInfinity(w)) throw new ArgumentException("Weights must be finite and non-negative.", nameof(weights));
            total += w;
        }
        if (!(total > 0)) throw new ArgumentException("At least one weight must be positive.", nameof(weights));

        _keep = new uint[n];
        _alias = new int[n];
        var scaled = new double[n];
        var small = new int[n];
        var large = new int[n];
        int smallCount = 0, largeCount = 0;
        for (var i = 0; i < n; i++)
        {
            scaled[i] = weights[i] * n / total;
            if (scaled[i] < 1.0) small[smallCount++] = i;
            else large[largeCount++] = i;
        }
        while (smallCount > 0 && largeCount > 0)
        {
            var s = small[--smallCount];
            var l = large[largeCount - 1];
            _keep[s] = Coin(scaled[s]);
            _alias[s] = l;
            scaled[l] -= 1.0 - scaled[s];
            if (scaled[l] < 1.0)
            {
                largeCount--;
                small[smallCount++] = l;
            }
        }
        // What is left is 1 up to rounding: those columns always keep themselves.
        while (largeCount > 0) Full(large[--largeCount]);
        while (smallCount > 0) Full(small[--smallCount]);

        void Full(int i)
        {
            _keep[i] = uint.MaxValue;
            _alias[i] = i;
        }
    }

    public int Count => _keep.Length;

    private static uint Coin(double probability) => probability >= 1.0 ? uint.MaxValue : (uint)(probability * 4294967296.0);

    /// <summary>An index drawn from one 64-bit random value (column from the high half, coin from the low half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int Sample(ulong random)
    {
        var column = (int)(((random >> 32) * (ulong)(uint)_keep.Length) >> 32);
        return (uint)random < _keep[column] || _keep[column] == uint.MaxValue ? column : _alias[column];
    }
}
