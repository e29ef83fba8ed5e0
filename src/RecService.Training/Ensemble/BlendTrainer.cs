using System.Globalization;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Models;
using RecService.Models.Ensemble;
using RecService.Models.Similarity;

namespace RecService.Training.Ensemble;

/// <summary>A fitted blend for one space and how it and each part did on the held-out related-items measure.</summary>
public sealed record BlendResult(PartContent Content, double Ensemble, IReadOnlyDictionary<string, double> Parts, int Examples, int FitSeeds, int EvaluationSeeds)
{
    public double BestPart => Parts.Count == 0 ? 0 : Parts.Values.Max();
}

/// <summary>
/// Fits the blend of one space over a bundle of the parts trained on the hold-out split: the same
/// <see cref="EnsembleRanker"/> the replica runs gathers each seed's candidates and their features, labelled by
/// <see cref="HeldOutEvidence"/>; a listwise fit (<see cref="ListwiseBlend"/>, calibrated by <see cref="LogisticBlend"/>) sets the weights on half the seeds,
/// and the other half measures related-items precision of the ensemble and of each part alone.
/// </summary>
public sealed class BlendTrainer(int seeds, double l2, ulong seed)
{
    /// <summary>Candidates per part when gathering examples: deeper than a 10-item answer, so the blend also learns the
    /// order of a radio station's pool.</summary>
    public const int ExamplesPerPart = 60;
    /// <summary>Cap on examples (each seed's candidates), so the fit's memory stays bounded on a big catalog.</summary>
    public const int MaxExamples = 1_000_000;

    public BlendResult Fit(ModelBundle split, string space, HeldOutEvidence evidence, CancellationToken ct)
    {
        var features = BlendFeatures.For(split, space);
        var gather = EnsembleRanker.Create(split, space, features, new float[features.Count]);
        var k = ModelMetrics.RelatedK(space);

        // Seeds with evidence, in a seeded order; the first half fits, the second measures.
        var candidates = Enumerable.Range(0, evidence.Items).Where(i => evidence.Count(i) >= 2).ToArray();
        var rng = new Xoshiro256(seed, 0xB1E2D);
        for (var i = candidates.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (candidates[i], candidates[j]) = (candidates[j], candidates[i]);
        }
        var chosen = candidates.AsSpan(0, Math.Min(seeds, candidates.Length)).ToArray();
        var fitSeeds = chosen[..(chosen.Length / 2)];
        var evalSeeds = chosen[(chosen.Length / 2)..];

        var x = new List<float>();
        var y = new List<byte>();
        var groups = new List<int> { 0 };
        var related = new List<int>();
        var row = new float[features.Count];
        foreach (var s in fitSeeds)
        {
            ct.ThrowIfCancellationRequested();
            if (y.Count >= MaxExamples) break;
            evidence.Related(s, related);
            foreach (var c in gather.Candidates(s, ExamplesPerPart, default))
            {
                gather.FeaturesOf(s, c, row);
                x.AddRange(row);
                y.Add(related.BinarySearch(c) >= 0 ? (byte)1 : (byte)0);
            }
            groups.Add(y.Count);
        }
        // Weights for ranking each seed's candidates (listwise), then one scale and offset fitted by logistic regression
        // on the blended score so that the served score reads as a probability; the order is the listwise fit's.
        var weights = new float[features.Count];
        BlendFit? fit = null;
        if (y.Count > 0 && y.Contains(1) && y.Contains(0))
        {
            var examples = x.ToArray();
            var labels = y.ToArray();
            // Standardised for the fit: the penalty then weighs every feature alike, whatever its range (a co-listening
            // similarity of 0.1 would otherwise need a weight the penalty forbids). The weights map back to raw features.
            var m = features.Count;
            var mean = new double[m];
            var sd = new double[m];
            for (var i = 0; i < labels.Length; i++)
                for (var j = 0; j < m; j++) mean[j] += examples[i * m + j];
            for (var j = 0; j < m; j++) mean[j] /= labels.Length;
            for (var i = 0; i < labels.Length; i++)
                for (var j = 0; j < m; j++) sd[j] += Math.Pow(examples[i * m + j] - mean[j], 2);
            for (var j = 0; j < m; j++) sd[j] = Math.Sqrt(sd[j] / labels.Length);
            var standard = new float[examples.Length];
            for (var i = 0; i < labels.Length; i++)
                for (var j = 0; j < m; j++) standard[i * m + j] = sd[j] > 0 ? (float)((examples[i * m + j] - mean[j]) / sd[j]) : 0f;
            var ranking = ListwiseBlend.Fit(standard, labels, groups.ToArray(), m, l2);
            for (var j = 0; j < m; j++) ranking[j] = sd[j] > 0 ? ranking[j] / sd[j] : 0;
            var blended = new float[labels.Length];
            for (var i = 0; i < labels.Length; i++)
            {
                double z = 0;
                for (var j = 0; j < features.Count; j++) z += ranking[j] * examples[i * features.Count + j];
                blended[i] = (float)z;
            }
            fit = LogisticBlend.Fit(blended, labels, 1, l2: 0);
            var scale = Math.Max(fit.Weights[0], 1e-6); // a blend worse than chance would flip the order: keep it
            for (var j = 0; j < features.Count; j++) weights[j] = (float)(scale * ranking[j]);
            for (var j = 0; j < features.Count; j++)
                if (features[j] == BlendFeatures.Intercept) weights[j] += (float)fit.Intercept;
        }
        var ranker = EnsembleRanker.Create(split, space, features, weights);

        // Related-items precision@k on the other seeds: the ensemble, and each part over this space alone.
        var views = split.Parts.Select(p => (p.Name, View: ItemSimilarities.Of(p))).Where(v => v.View is { } view && view.Space == space).ToList();
        var ids = new int[k];
        var scores = new float[k];
        double ensemble = 0;
        var parts = views.ToDictionary(v => v.Name, _ => 0.0);
        foreach (var s in evalSeeds)
        {
            ct.ThrowIfCancellationRequested();
            evidence.Related(s, related);
            ensemble += Hits(related, ids, ranker.Rank(s, ids, scores)) / (double)k;
            foreach (var (name, view) in views) parts[name] += Hits(related, ids, view!.Nearest(s, ids, scores, default)) / (double)k;
        }
        var n = Math.Max(1, evalSeeds.Length);
        ensemble /= n;
        foreach (var name in parts.Keys.ToList()) parts[name] /= n;

        var metric = ModelMetrics.RelatedPrecisionAt(k);
        var metrics = new Dictionary<string, double>
        {
            [metric] = ensemble,
            [ModelMetrics.RelatedSeeds] = evalSeeds.Length,
            ["examples"] = y.Count,
            ["positives"] = y.Count(v => v == 1),
            ["logLoss"] = fit?.LogLoss ?? double.NaN,
        };
        foreach (var (name, value) in parts) metrics[ModelMetrics.RelatedPrecisionAt(k, name)] = value;
        var parameters = new BlendParameters(space, ExamplesPerPart, l2, "held-out pairs and held-out sequences, co-occurrence lift >= 1");
        return new BlendResult(BlendFamily.Content(EnsembleParts.BlendFor(space), parameters, features, weights, metrics), ensemble, parts, y.Count, fitSeeds.Length, evalSeeds.Length);
    }

    private static int Hits(List<int> related, int[] ids, int n)
    {
        var hits = 0;
        for (var i = 0; i < n; i++)
            if (related.BinarySearch(ids[i]) >= 0) hits++;
        return hits;
    }
}
