using System.Runtime.CompilerServices;

namespace RecService.Core.Sampling;

/// <summary>
/// xoshiro256** seeded through SplitMix64: a small, fast generator whose sequence depends only on the seed,
/// so work split across threads can give each unit (a user, a row, a tree) its own stream
/// <c>new Xoshiro256(seed, unit)</c> and stay identical whatever the thread count.
/// </summary>
public struct Xoshiro256
{
    private ulong _s0, _s1, _s2, _s3;

    public Xoshiro256(ulong seed, ulong stream = 0)
    {
        var x = seed ^ (stream * SplitMix64.Golden) ^ 0xD1B54A32D192ED03UL;
        _s0 = SplitMix64.Next(ref x);
        _s1 = SplitMix64.Next(ref x);
        _s2 = SplitMix64.Next(ref x);
        _s3 = SplitMix64.Next(ref x);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong NextUInt64()
    {
        var result = ulong.RotateLeft(_s1 * 5, 7) * 9;
        var t = _s1 << 17;
        _s2 ^= _s0;
        _s3 ^= _s1;
        _s1 ^= _s2;
        _s0 ^= _s3;
        _s2 ^= t;
        _s3 = ulong.RotateLeft(_s3, 45);
        return result;
    }

    /// <summary>Uniform in [0, 1) with 53 random bits.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public double NextDouble() => (NextUInt64() >> 11) * (1.0 / (1UL << 53));

    /// <summary>Uniform in [0, maxExclusive) by Lemire's multiply-shift (bias below 2^-32 for our sizes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public int NextInt(int maxExclusive) => (int)(((NextUInt64() >> 32) * (ulong)(uint)maxExclusive) >> 32);

    /// <summary>Standard normal by Box-Muller (one of the pair is dropped: simplicity over speed here).</summary>
    public double NextGaussian()
    {
        var u1 = 1.0 - NextDouble();
        var u2 = NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>Index drawn from a cumulative weight table (ascending, last entry = total).</summary>
    public int NextFromCumulative(ReadOnlySpan<double> cumulative)
    {
        var x = NextDouble() * cumulative[^1];
        var i = cumulative.BinarySearch(x);
        i = i < 0 ? ~i : i + 1;
        return Math.Min(i, cumulative.Length - 1);
    }
}
