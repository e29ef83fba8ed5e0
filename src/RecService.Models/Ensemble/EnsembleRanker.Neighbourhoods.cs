using RecService.Core.Bundle;

namespace RecService.Models.Ensemble;

public sealed partial class EnsembleRanker
{
    /// <summary>Items kept per seed by <see cref="Neighbourhood"/>: a radio station's artists with room to spare.</summary>
    public const int NeighbourhoodSize = 100;
    /// <summary>Seeds whose neighbourhoods are kept at once: every seed of a space up to this size, else a
    /// direct-mapped share of them (seed modulo the table), which bounds the memo near 30 MB.</summary>
    private const int MaxNeighbourhoods = 1 << 16;

    /// <summary>A seed and its best items, immutable, published by one reference write: a reader never sees a torn pair.</summary>
    private sealed class SeedNeighbourhood(int seed, int[] items)
    {
        public readonly int Seed = seed;
        public readonly int[] Items = items;
    }

    private SeedNeighbourhood?[]? _neighbourhoods;

    /// <summary>
    /// The seed's best <paramref name="count"/> items by the blend (<see cref="Rank"/>, never the seed), best first, at
    /// most <see cref="NeighbourhoodSize"/>: ranked once per seed and bundle and kept, shorter asks taking a prefix.
    /// Radio asks the artists' blend for the seed artist's neighbourhood on every station start and refill, and
    /// ranking it afresh was close to half the cost of a station.
    /// </summary>
    public ReadOnlySpan<int> Neighbourhood(int seed, int count)
    {
        count = Math.Clamp(count, 0, NeighbourhoodSize);
        var table = Volatile.Read(ref _neighbourhoods) ?? Interlocked.CompareExchange(ref _neighbourhoods, NewTable(), null) ?? Volatile.Read(ref _neighbourhoods)!;
        var slot = seed & (table.Length - 1);
        if (Volatile.Read(ref table[slot]) is not { } held || held.Seed != seed)
        {
            var ids = new int[NeighbourhoodSize];
            var scores = new float[NeighbourhoodSize];
            var n = Rank(seed, ids, scores);
            // Racing callers rank the same list; whichever lands last stays.
            Volatile.Write(ref table[slot], held = new SeedNeighbourhood(seed, ids[..n]));
        }
        return held.Items.AsSpan(0, Math.Min(count, held.Items.Length));
    }

    private SeedNeighbourhood?[] NewTable()
    {
        var items = Space == IdSpaces.Tracks ? _catalog.TrackCount : _catalog.ArtistCount;
        return new SeedNeighbourhood?[(int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(items, 1)), MaxNeighbourhoods)];
    }
}
