using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Training.Cooccurrence;

namespace RecService.Training.Tests;

public sealed class CooccurrenceNeighboursTests
{
    [Fact]
    public void Neighbours_are_the_exact_top_k_by_shrunk_cosine_of_listener_sets()
    {
        // 300 users x 60 items in 3 taste groups (items i % 3), each user playing 6 items mostly of their group.
        var rng = new Xoshiro256(4);
        var rows = new List<int>();
        var cols = new List<int>();
        for (var u = 0; u < 300; u++)
        {
            var seen = new HashSet<int>();
            while (seen.Count < 6)
            {
                var item = rng.NextDouble() < 0.85 ? 3 * rng.NextInt(20) + u % 3 : rng.NextInt(60);
                if (seen.Add(item)) { rows.Add(u); cols.Add(item); }
            }
        }
        var plays = CsrMatrix.FromTriples(300, 60, rows.ToArray(), cols.ToArray(), Enumerable.Repeat(2f, rows.Count).ToArray());
        const double shrinkage = 5;
        var near = CooccurrenceNeighbours.Compute(plays, k: 8, shrinkage, threads: 2);

        var listeners = Enumerable.Range(0, 60).Select(i => Enumerable.Range(0, 300).Where(u => plays.RowIndices(u).Contains(i)).ToHashSet()).ToArray();
        double Similarity(int a, int b) => listeners[a].Intersect(listeners[b]).Count() / (Math.Sqrt((double)listeners[a].Count * listeners[b].Count) + shrinkage);
        var sameGroup = 0;
        for (var i = 0; i < 60; i++)
        {
            var expected = Enumerable.Range(0, 60).Where(j => j != i && listeners[i].Overlaps(listeners[j]))
                .OrderByDescending(j => Similarity(i, j)).ThenBy(j => j).Take(8).ToArray();
            Assert.Equal(expected, near.RowIndices(i).ToArray());
            for (var n = 0; n < expected.Length; n++) Assert.Equal(Similarity(i, expected[n]), near.RowValues(i)[n], 5);
            sameGroup += near.RowIndices(i).ToArray().Count(j => j % 3 == i % 3);
        }
        Assert.True(sameGroup >= 0.9 * 60 * 8, $"{sameGroup} of {60 * 8} neighbours share the taste group");
    }
}
