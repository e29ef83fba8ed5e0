namespace RecService.Core.Sampling;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a counter-based generator whose output for a state depends on nothing
/// else, so seeds derived from (seed, row) or (seed, tree) are the same on every run and thread count. Seeds
/// <see cref="Xoshiro256"/>, ALS initial factors and hold-out draws, and forest tree seeds.
/// </summary>
public static class SplitMix64
{
    public const ulong Golden = 0x9E3779B97F4A7C15UL;

    /// <summary>The finalizer: a bijective mix of all 64 bits.</summary>
    public static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Advances <paramref name="state"/> by the golden-ratio increment and returns the mixed value.</summary>
    public static ulong Next(ref ulong state)
    {
        state += Golden;
        return Mix(state);
    }
}
