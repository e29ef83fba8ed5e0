using RecService.Models.Als;

namespace RecService.Training.Ensemble;

/// <summary>A fitted blend: one weight per feature, then the intercept; and how well it fits the examples.</summary>
/// <param name="LogLoss">Mean negative log-likelihood over the examples at the fitted weights.</param>
public sealed record BlendFit(double[] Weights, double Intercept, double LogLoss, int Iterations, int Examples)
{
    public double Score(ReadOnlySpan<float> features)
    {
        var z = Intercept;
        for (var j = 0; j < Weights.Length; j++) z += Weights[j] * features[j];
        return z;
    }
}

/// <summary>
/// L2-regularised logistic regression fitted exactly by Newton's method (iteratively reweighted least squares): the
/// ensemble ranker's blend of a few part scores. With a dozen features the Hessian is a dozen by a dozen, so each step
/// is one pass over the examples and a tiny Cholesky solve; it converges in a handful of steps to the unique optimum,
/// needs no learning rate, and gives the same weights for the same examples.
/// </summary>
public static class LogisticBlend
{
    /// <param name="features">Examples x <paramref name="featureCount"/>, row-major.</param>
    /// <param name="labels">1 for a positive example, 0 for a negative one.</param>
    /// <param name="l2">Penalty on the weights (not the intercept): keeps separable data finite.</param>
    public static BlendFit Fit(ReadOnlySpan<float> features, ReadOnlySpan<byte> labels, int featureCount, double l2 = 1e-3,
        int maxIterations = 50, double tolerance = 1e-9)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(l2);
        var n = labels.Length;
        if (n == 0) throw new ArgumentException("The blend needs examples.", nameof(labels));
        if (features.Length != (long)n * featureCount) throw new ArgumentException($"{features.Length} features for {n} examples of {featureCount}.", nameof(features));
        for (var i = 0; i < features.Length; i++)
            if (!float.IsFinite(features[i])) throw new ArgumentException($"Feature {i % featureCount} of example {i / featureCount} is not finite.", nameof(features));
        for (var i = 0; i < n; i++)
            if (labels[i] > 1) throw new ArgumentException($"Label of example {i} is {labels[i]}, not 0 or 1.", nameof(labels));

        var m = featureCount + 1; // the intercept is the last coefficient, its feature the constant 1
        var w = new double[m];
        var gradient = new double[m];
        var hessian = new double[m * m];
        var row = new double[m];
        var iterations = 0;
        for (; iterations < maxIterations; iterations++)
        {
            Array.Clear(gradient);
            Array.Clear(hessian);
            for (var i = 0; i < n; i++)
            {
                Row(features, i, featureCount, row);
                var p = Sigmoid(Dot(w, row));
                var residual = p - labels[i];
                var curvature = Math.Max(p * (1 - p), 1e-12);
                for (var a = 0; a < m; a++)
                {
                    gradient[a] += residual * row[a];
                    var ra = curvature * row[a];
                    for (var b = 0; b <= a; b++) hessian[a * m + b] += ra * row[b];
                }
            }
            for (var a = 0; a < featureCount; a++)
            {
                gradient[a] += l2 * n * w[a];
                hessian[a * m + a] += l2 * n;
            }
            hessian[(m - 1) * m + m - 1] += 1e-9 * n; // the intercept is unpenalised; this only keeps the solve defined
            if (!Cholesky.Factor<double>(hessian, hessian, m)) throw new InvalidOperationException("The blend's Hessian is not positive definite.");
            Cholesky.Solve(hessian, gradient, m);
            var largest = 0.0;
            for (var a = 0; a < m; a++)
            {
                w[a] -= gradient[a];
                largest = Math.Max(largest, Math.Abs(gradient[a]));
            }
            if (largest < tolerance) { iterations++; break; }
        }

        var loss = 0.0;
        for (var i = 0; i < n; i++)
        {
            Row(features, i, featureCount, row);
            var z = Dot(w, row);
            // -log sigmoid(z) for a positive, -log sigmoid(-z) for a negative, in a form that does not overflow.
            var signed = labels[i] == 1 ? z : -z;
            loss += signed > 0 ? Math.Log(1 + Math.Exp(-signed)) : -signed + Math.Log(1 + Math.Exp(signed));
        }
        return new BlendFit(w[..featureCount], w[featureCount], loss / n, iterations, n);
    }

    private static void Row(ReadOnlySpan<float> features, int example, int featureCount, double[] row)
    {
        var x = features.Slice(example * featureCount, featureCount);
        for (var j = 0; j < featureCount; j++) row[j] = x[j];
        row[featureCount] = 1;
    }

    private static double Dot(double[] w, double[] x)
    {
        var s = 0.0;
        for (var j = 0; j < w.Length; j++) s += w[j] * x[j];
        return s;
    }

    private static double Sigmoid(double z) => z >= 0 ? 1 / (1 + Math.Exp(-z)) : Math.Exp(z) / (1 + Math.Exp(z));
}
