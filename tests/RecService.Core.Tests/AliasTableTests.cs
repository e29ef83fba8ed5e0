using RecService.Core.Sampling;

namespace RecService.Core.Tests;

public class AliasTableTests
{
    [Fact]
    public void Draws_follow_the_weights()
    {
        double[] weights = [1, 0, 3, 6, 0.5, 9.5];
        var table = new AliasTable(weights);
        var rng = new Xoshiro256(11);
        var hits = new int[weights.Length];
        const int Draws = 400_000;
        for (var i = 0; i < Draws; i++) hits[table.Sample(rng.NextUInt64())]++;
        var total = weights.Sum();
        for (var i = 0; i < weights.Length; i++)
        {
            var expected = weights[i] / total;
            Assert.InRange(hits[i] / (double)Draws, expected - 0.005, expected + 0.005);
        }
        Assert.Equal(0, hits[1]);
    }

    [Fact]
    public void Refuses_weights_that_are_not_a_distribution()
    {
        Assert.Throws<ArgumentException>(() => new AliasTable([]));
        Assert.Throws<ArgumentException>(() => new AliasTable([0, 0]));
        Assert.Throws<ArgumentException>(() => new AliasTable([1, -1]));
        Assert.Throws<ArgumentException>(() => new AliasTable([1, double.NaN]));
    }
}
