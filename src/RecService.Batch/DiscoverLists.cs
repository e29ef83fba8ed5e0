using RecService.Core.Bundle;
using RecService.Core.Forest;
using RecService.Core.Vectors;
using RecService.Models.Als;

namespace RecService.Batch;

/// <summary>
/// Users' Discover lists computed in parallel without storing them: what <see cref="DiscoverPrecompute"/> writes per
/// batch and what `rec bench precompute` times. Exact mode packs the track factors once (<see cref="PackedDotSearch"/>)
/// and hands threads chunks of consecutive users, whose factor rows are read in place from the bundle.
/// </summary>
public sealed class DiscoverLists
{
    /// <summary>Users per parallel work item: one of the kernel's query groups, long enough to amortize scheduling,
    /// short enough that a batch spreads evenly over the threads.</summary>
    private const int ChunkUsers = PackedDotSearch.GroupQueries;

    private readonly ModelBundle _bundle;
    private readonly AlsPart _model;
    private readonly PackedDotSearch? _exact;
    private readonly int _searchK;
    private readonly int _threads;

    public DiscoverLists(ModelBundle bundle, PrecomputeOptions options)
    {
        if (options.Count < 1) throw new ArgumentOutOfRangeException(nameof(options), "Count must be at least 1.");
        _bundle = bundle;
        _model = AlsParts.Of(bundle).Tracks;
        Length = Math.Min(options.Count, bundle.Tracks.Count);
        Exact = options.Exact;
        if (Exact) _exact = new PackedDotSearch(_model.AllItemFactors, bundle.Tracks.Count, _model.Factors);
        _searchK = ForestSearchOptions.ScaledSearchK(options.SearchK > 0 ? options.SearchK : _model.DotForest.DefaultOptions.SearchK, Length);
        _threads = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
    }

    /// <summary>Tracks per list: the options' count, at most the track count.</summary>
    public int Length { get; }

    public bool Exact { get; }

    /// <summary>
    /// The lists of users <paramref name="firstUser"/>.. (<paramref name="count"/> of them): user i's best tracks
    /// (played ones left out) best first at <c>ids[(i * Length)..]</c> and <c>scores[(i * Length)..]</c>, how many in
    /// <c>counts[i]</c>. Exact lists are those of scoring every track; forest lists come from the dot forest.
    /// Returns the user-track scores the exact kernel computed (<see cref="PackedDotSearch.Search"/>; 0 for the forest).
    /// </summary>
    public long Compute(int firstUser, int count, int[] ids, float[] scores, int[] counts, CancellationToken ct = default)
    {
        var k = Length;
        if (firstUser < 0 || count < 0 || (long)firstUser + count > _bundle.Users.Count) throw new ArgumentOutOfRangeException(nameof(count));
        if (ids.Length < (long)count * k || scores.Length < (long)count * k || counts.Length < count) throw new ArgumentException("The result arrays are shorter than count x Length.");
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = _threads, CancellationToken = ct };
        var chunks = (count + ChunkUsers - 1) / ChunkUsers;
        long scored = 0;
        Parallel.For(0, chunks, parallel, c =>
        {
            var first = c * ChunkUsers;
            var n = Math.Min(ChunkUsers, count - first);
            var user = firstUser + first;
            if (_exact is not null)
            {
                Interlocked.Add(ref scored, _exact.Search(UserRows(user, n), n, k, ids.AsSpan(first * k, n * k), scores.AsSpan(first * k, n * k), counts.AsSpan(first, n),
                    q => _bundle.Played.RowIndices(user + q)));
                return;
            }
            for (var i = 0; i < n; i++)
            {
                counts[first + i] = _model.DotForest.Search(_model.UserFactors.Row(user + i), k, ids.AsSpan((first + i) * k, k),
                    scores.AsSpan((first + i) * k, k), _searchK, _bundle.Played.RowIndices(user + i));
            }
        });
        return scored;
    }

    /// <summary>Users first.. (n of them) as one row-major span, in place in the mapped factor matrix.</summary>
    private ReadOnlySpan<float> UserRows(int first, int n) => _model.UserFactors.RowRange(first, n);
}
