using RecService.Core.Sampling;
using RecService.Training.Ensemble;

namespace RecService.Training.Tests;

public sealed class ListwiseBlendTests
{
    [Fact]
    public void It_recovers_the_weights_that_ordered_each_groups_candidates()
    {
        // 400 seeds x 20 candidates x 4 features (the last a constant, as the intercept is); in each group the related
        // candidates are drawn by a softmax of 2 x0 - 1 x1 (x2 is noise).
        var rng = new Xoshiro256(8);
        const int groups = 400, per = 20, m = 4;
        var x = new float[groups * per * m];
        var y = new byte[groups * per];
        var starts = new int[groups + 1];
        for (var g = 0; g < groups; g++)
        {
            starts[g + 1] = (g + 1) * per;
            var scores = new double[per];
            for (var i = 0; i < per; i++)
            {
                var at = (g * per + i) * m;
                for (var j = 0; j < 3; j++) x[at + j] = (float)rng.NextGaussian();
                x[at + 3] = 1;
                scores[i] = Math.Exp(2 * x[at] - x[at + 1]);
            }
            // Two related candidates per group, drawn in proportion to exp(score).
            for (var draw = 0; draw < 2; draw++)
            {
                var u = rng.NextDouble() * scores.Sum();
                var pick = 0;
                while (pick < per - 1 && (u -= scores[pick]) > 0) pick++;
                y[g * per + pick] = 1;
                scores[pick] = 0;
            }
        }
        var w = ListwiseBlend.Fit(x, y, starts, m, l2: 1e-3);
        Assert.InRange(w[0], 1.4, 2.6);
        Assert.InRange(w[1] / w[0], -0.75, -0.3);
        Assert.InRange(Math.Abs(w[2]), 0, 0.3);
        Assert.InRange(Math.Abs(w[3]), 0, 1e-6); // a feature constant within every group cannot order one
        Assert.Equal(w, ListwiseBlend.Fit(x, y, starts, m, l2: 1e-3)); // the same examples, the same weights
    }
}
