using RecService.Core.Sampling;
using RecService.Training.Ensemble;

namespace RecService.Training.Tests;

public class LogisticBlendTests
{
    private static (float[] Features, byte[] Labels) Simulated(int n, double[] weights, double intercept, ulong seed)
    {
        var m = weights.Length;
        var rng = new Xoshiro256(seed);
        var x = new float[n * m];
        var y = new byte[n];
        for (var i = 0; i < n; i++)
        {
            var z = intercept;
            for (var j = 0; j < m; j++)
            {
                x[i * m + j] = (float)rng.NextGaussian();
                z += weights[j] * x[i * m + j];
            }
            y[i] = rng.NextDouble() < 1 / (1 + Math.Exp(-z)) ? (byte)1 : (byte)0;
        }
        return (x, y);
    }

    [Fact]
    public void Recovers_the_weights_that_generated_the_labels()
    {
        double[] truth = [2.0, -1.0, 0.5, 0.0];
        var (x, y) = Simulated(40_000, truth, -0.3, seed: 1);
        var fit = LogisticBlend.Fit(x, y, truth.Length, l2: 0);
        for (var j = 0; j < truth.Length; j++) Assert.InRange(fit.Weights[j], truth[j] - 0.06, truth[j] + 0.06);
        Assert.InRange(fit.Intercept, -0.36, -0.24);
        Assert.True(fit.Iterations < 15, $"{fit.Iterations} Newton steps");
        // The fitted loss is no worse than the truth's (it is the optimum on these examples).
        var truthLoss = 0.0;
        for (var i = 0; i < y.Length; i++)
        {
            var z = -0.3;
            for (var j = 0; j < truth.Length; j++) z += truth[j] * x[i * truth.Length + j];
            truthLoss += y[i] == 1 ? Math.Log(1 + Math.Exp(-z)) : Math.Log(1 + Math.Exp(z));
        }
        Assert.True(fit.LogLoss <= truthLoss / y.Length + 1e-9);
    }

    [Fact]
    public void Separable_examples_give_finite_weights()
    {
        float[] x = [-2, -1, 1, 2];
        byte[] y = [0, 0, 1, 1];
        var fit = LogisticBlend.Fit(x, y, 1, l2: 1e-2);
        Assert.True(double.IsFinite(fit.Weights[0]) && fit.Weights[0] > 0);
        Assert.True(fit.Score([1.5f]) > 0 && fit.Score([-1.5f]) < 0);
    }

    [Fact]
    public void Bad_examples_are_refused_clearly()
    {
        Assert.Contains("not finite", Assert.Throws<ArgumentException>(() => LogisticBlend.Fit([1, float.NaN], [0, 1], 1)).Message);
        Assert.Contains("not 0 or 1", Assert.Throws<ArgumentException>(() => LogisticBlend.Fit([1, 2], [0, 2], 1)).Message);
        Assert.Throws<ArgumentException>(() => LogisticBlend.Fit([1, 2, 3], [0, 1], 1));
        Assert.Throws<ArgumentException>(() => LogisticBlend.Fit([], [], 1));
    }
}
