using RecService.Training.Als;

namespace RecService.Training.Evaluation;

/// <summary>Exact nearest items by cosine of their factor vectors (brute force: for checks and reports, not serving).</summary>
public static class SimilarItems
{
    public static IReadOnlyList<(int Item, float Cosine)> Nearest(AlsModel model, int item, int count)
    {
        var f = model.Factors;
        var norms = new float[model.Items];
        for (var i = 0; i < model.Items; i++) norms[i] = MathF.Sqrt(VectorKernels.Dot(ref model.ItemFactors[i * f], ref model.ItemFactors[i * f], f));
        var scores = new float[model.Items];
        for (var i = 0; i < model.Items; i++)
        {
            var denominator = norms[i] * norms[item];
            scores[i] = i == item || denominator == 0
                ? float.NegativeInfinity
                : VectorKernels.Dot(ref model.ItemFactors[i * f], ref model.ItemFactors[item * f], f) / denominator;
        }
        var top = new int[Math.Min(count, model.Items)];
        var n = RankingMetrics.TopK(scores, top.Length, top);
        return [.. top.Take(n).Select(i => (i, scores[i]))];
    }
}
