using RecService.Core.Vectors;
using RecService.Synthetic;

namespace RecService.Core.Tests;

/// <summary>Small generated sets shared by the vector and forest tests (generated once per test run).</summary>
internal static class TestData
{
    public const int Count = 5000;
    public const int Dims = 16;
    public const int Queries = 200;

    private static readonly Lazy<(float[] Items, float[] Queries)> s_set = new(() =>
        SyntheticFactors.Generate(new SyntheticFactors.Options(Count, Dims, Queries, Seed: 7) { Clusters = 100 }));

    public static float[] Items => s_set.Value.Items;
    public static float[] QueryVectors => s_set.Value.Queries;

    /// <summary>Plain scalar loops, written independently of the SIMD code under test.</summary>
    public static float NaiveScore(ReadOnlySpan<float> q, ReadOnlySpan<float> y, Metric metric)
    {
        double dot = 0, qq = 0, yy = 0;
        for (int j = 0; j < q.Length; j++)
        {
            dot += (double)q[j] * y[j];
            qq += (double)q[j] * q[j];
            yy += (double)y[j] * y[j];
        }
        if (metric == Metric.Dot) return (float)dot;
        return qq == 0 || yy == 0 ? 0f : (float)(dot / Math.Sqrt(qq) / Math.Sqrt(yy));
    }

    public static string TempPath(string name) => Path.Combine(Path.GetTempPath(), $"rec-forest-tests-{Environment.ProcessId}-{Guid.NewGuid():N}-{name}");
}
