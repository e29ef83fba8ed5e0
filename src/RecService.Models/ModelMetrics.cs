using RecService.Core.Bundle;

namespace RecService.Models;

/// <summary>
/// The names of a part's held-out metrics, built in one place: the trainer writes them (TrainingJob.Describe), the
/// worker's gate and dashboards read them. A part's metrics live in its manifest entry under the short name
/// ("precision@10"); flattened over the bundle they are <see cref="Qualified"/> ("tracks.precision@10").
/// </summary>
public static class ModelMetrics
{
    public const string Auc = "auc";
    public const string EvaluatedUsers = "evaluatedUsers";

    public static string PrecisionAt(int k) => $"precision@{k}";
    public static string MeanAveragePrecisionAt(int k) => $"map@{k}";
    public static string NdcgAt(int k) => $"ndcg@{k}";
    /// <summary>The popularity baseline's precision on the same split.</summary>
    public static string PopularityPrecisionAt(int k) => $"popularity.precision@{k}";

    /// <summary>Related-items precision@k on held-out evidence (Training/Ensemble/ENSEMBLE.md): of a blend, under its own name.</summary>
    public static string RelatedPrecisionAt(int k) => $"related.precision@{k}";
    /// <summary>The same measure for one part alone, kept in the blend's metrics so one run compares them on the same seeds.</summary>
    public static string RelatedPrecisionAt(int k, string part) => $"{RelatedPrecisionAt(k)}.{part}";

    /// <summary>The cut-off of the related-items measure for a space: an answer's length (similar tracks 10, related artists 20).</summary>
    public static int RelatedK(string space) => space == IdSpaces.Tracks ? 10 : 20;

    /// <summary>The part a metric of <see cref="RelatedPrecisionAt(int, string)"/> names at cut-off <paramref name="k"/>, or null for any other metric.</summary>
    public static string? RelatedPrecisionPart(string metric, int k)
    {
        var prefix = RelatedPrecisionAt(k) + ".";
        return metric.StartsWith(prefix, StringComparison.Ordinal) && metric.Length > prefix.Length ? metric[prefix.Length..] : null;
    }
    /// <summary>Seeds the related-items measure was taken over.</summary>
    public const string RelatedSeeds = "related.seeds";

    /// <summary>A part's metric as the bundle-wide flat map names it.</summary>
    public static string Qualified(string part, string metric) => BundleManifest.Qualified(part, metric);

    /// <summary><see cref="PrecisionAt(int)"/> of <paramref name="part"/>, qualified.</summary>
    public static string PrecisionAt(string part, int k) => Qualified(part, PrecisionAt(k));
}
