using RecService.Models.Als;

namespace RecService.Training.Ensemble;

/// <summary>
/// The blend fitted for ranking: a softmax over each seed's candidates (a listwise, "conditional logit" loss), so the
/// weights are chosen for how they order one seed's candidates, not for how likely any pair is overall (where a feature
/// that only separates seeds, such as popularity, can win the fit and lose the ranking). Convex; fitted exactly by
/// Newton's method with a backtracking line search; the same examples give the same weights. Features constant within
/// every group (the intercept) get weight 0.
/// </summary>
public static class ListwiseBlend
{
    /// <param name="features">Examples x <paramref name="featureCount"/>, row-major, grouped by seed.</param>
    /// <param name="labels">1 for a related candidate, 0 otherwise; a group without a 1 carries no information and is skipped.</param>
    /// <param name="groups">Start of each seed's examples, then the example count (groups + 1 entries).</param>
    /// <param name="l2">Penalty on the weights, per group.</param>
    public static double[] Fit(ReadOnlySpan<float> features, ReadOnlySpan<byte> labels, ReadOnlySpan<int> groups, int featureCount,
        double l2 = 1e-2, int maxIterations = 50, double tolerance = 1e-8)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        if (groups.Length < 1 || groups[0] != 0 || groups[^1] != labels.Length) throw new ArgumentException("Groups must run from 0 to the example count.", nameof(groups));
        if (features.Length != (long)labels.Length * featureCount) throw new ArgumentException($"{features.Length} features for {labels.Length} examples of {featureCount}.", nameof(features));
        for (var i = 0; i < features.Length; i++)
            if (!float.IsFinite(features[i])) throw new ArgumentException($"Feature {i % featureCount} of example {i / featureCount} is not finite.", nameof(features));
        var m = featureCount;
        var w = new double[m];
        var gradient = new double[m];
        var hessian = new double[m * m];
        var mean = new double[m];
        var step = new double[m];
        var trial = new double[m];
        var useful = 0;
        for (var g = 0; g + 1 < groups.Length; g++)
            if (labels[groups[g]..groups[g + 1]].Contains((byte)1) && labels[groups[g]..groups[g + 1]].Contains((byte)0)) useful++;
        if (useful == 0) return w;
        var penalty = l2 * useful;
        var loss = Loss(features, labels, groups, m, w, penalty);
        for (var iteration = 0; iteration < maxIterations; iteration++)
        {
            Array.Clear(gradient);
            Array.Clear(hessian);
            for (var g = 0; g + 1 < groups.Length; g++)
            {
                int start = groups[g], end = groups[g + 1];
                if (!Useful(labels, start, end, out var positives)) continue;
                var (max, total) = Softmax(features, start, end, m, w);
                Array.Clear(mean);
                for (var i = start; i < end; i++)
                {
                    var p = Math.Exp(Dot(features, i, m, w) - max) / total;
                    var x = features.Slice(i * m, m);
                    for (var a = 0; a < m; a++)
                    {
                        mean[a] += p * x[a];
                        if (labels[i] == 1) gradient[a] -= x[a] / positives;
                        var pa = p * x[a];
                        for (var b = 0; b <= a; b++) hessian[a * m + b] += pa * x[b];
                    }
                }
                for (var a = 0; a < m; a++)
                {
                    gradient[a] += mean[a];
                    for (var b = 0; b <= a; b++) hessian[a * m + b] -= mean[a] * mean[b];
                }
            }
            for (var a = 0; a < m; a++)
            {
                gradient[a] += penalty * w[a];
                hessian[a * m + a] += penalty;
            }
            Array.Copy(gradient, step, m);
            if (!Cholesky.Factor<double>(hessian, hessian, m)) throw new InvalidOperationException("The listwise blend's Hessian is not positive definite.");
            Cholesky.Solve(hessian, step, m);
            // Newton's step, halved until the loss falls (a softmax loss can overshoot far from the optimum).
            var scale = 1.0;
            double next;
            while (true)
            {
                for (var a = 0; a < m; a++) trial[a] = w[a] - scale * step[a];
                next = Loss(features, labels, groups, m, trial, penalty);
                if (next <= loss || scale < 1e-6) break;
                scale /= 2;
            }
            var largest = 0.0;
            for (var a = 0; a < m; a++) largest = Math.Max(largest, Math.Abs(trial[a] - w[a]));
            Array.Copy(trial, w, m);
            loss = next;
            if (largest < tolerance) break;
        }
        return w;
    }

    private static bool Useful(ReadOnlySpan<byte> labels, int start, int end, out int positives)
    {
        positives = 0;
        for (var i = start; i < end; i++) positives += labels[i];
        return positives > 0 && positives < end - start;
    }

    private static double Loss(ReadOnlySpan<float> features, ReadOnlySpan<byte> labels, ReadOnlySpan<int> groups, int m, double[] w, double penalty)
    {
        var loss = 0.0;
        for (var g = 0; g + 1 < groups.Length; g++)
        {
            int start = groups[g], end = groups[g + 1];
            if (!Useful(labels, start, end, out var positives)) continue;
            var (max, total) = Softmax(features, start, end, m, w);
            var logTotal = max + Math.Log(total);
            for (var i = start; i < end; i++)
                if (labels[i] == 1) loss -= (Dot(features, i, m, w) - logTotal) / positives;
        }
        for (var a = 0; a < m; a++) loss += 0.5 * penalty * w[a] * w[a];
        return loss;
    }

    /// <summary>A group's largest score and the sum of exp(score - largest): its softmax without overflow.</summary>
    private static (double Max, double Total) Softmax(ReadOnlySpan<float> features, int start, int end, int m, double[] w)
    {
        var max = double.NegativeInfinity;
        for (var i = start; i < end; i++) max = Math.Max(max, Dot(features, i, m, w));
        var total = 0.0;
        for (var i = start; i < end; i++) total += Math.Exp(Dot(features, i, m, w) - max);
        return (max, total);
    }

    private static double Dot(ReadOnlySpan<float> features, int example, int m, double[] w)
    {
        var x = features.Slice(example * m, m);
        var s = 0.0;
        for (var a = 0; a < m; a++) s += w[a] * x[a];
        return s;
    }
}
