using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Core.Tests;

public sealed class ForestIndexTests : IDisposable
{
    private readonly List<string> _files = [];

    private string Build(Metric metric, int trees = 6, int seed = 1, int threads = 0, int leafSize = 24)
    {
        string path = TestData.TempPath($"{metric}.idx");
        _files.Add(path);
        ForestBuilder.Build(TestData.Items, TestData.Count, TestData.Dims,
            new ForestOptions { Metric = metric, Trees = trees, Seed = seed, Threads = threads, LeafSize = leafSize }, path);
        return path;
    }

    public void Dispose()
    {
        foreach (var f in _files) File.Delete(f);
    }

    private static double Recall(ForestIndex index, int k, int searchK)
    {
        var exact = new ExactSearch(TestData.Items, TestData.Count, TestData.Dims, index.Metric);
        var truth = new int[TestData.Queries * k];
        exact.SearchBatch(TestData.QueryVectors, TestData.Queries, k, truth, new float[truth.Length]);
        var ids = new int[k];
        var scores = new float[k];
        long hits = 0;
        for (int q = 0; q < TestData.Queries; q++)
        {
            int n = index.Search(TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims), k, ids, scores, searchK);
            Assert.Equal(k, n);
            var expected = truth.AsSpan(q * k, k).ToArray();
            hits += ids.Count(expected.Contains);
        }
        return (double)hits / (TestData.Queries * k);
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Scanning_everything_is_exact(Metric metric)
    {
        using var index = ForestIndex.Open(Build(metric));
        Assert.Equal(1.0, Recall(index, 10, TestData.Count), 3);
    }
}
