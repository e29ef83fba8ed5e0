using RecService.Core.Vectors;

namespace RecService.Core.Tests;

public class ExactSearchTests
{
    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Batch_and_single_match_a_naive_scan(Metric metric)
    {
        var items = TestData.Items;
        const int k = 10, nq = 13; // 13: the last block of four queries is partial.
        var exact = new ExactSearch(items, TestData.Count, TestData.Dims, metric);
        var ids = new int[nq * k];
        var scores = new float[nq * k];
        exact.SearchBatch(TestData.QueryVectors, nq, k, ids, scores, threads: 2);
        var single = new int[k];
        var singleScores = new float[k];
        for (int q = 0; q < nq; q++)
        {
            var query = TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims).ToArray();
            var naive = Enumerable.Range(0, TestData.Count)
                .Select(i => (Id: i, Score: TestData.NaiveScore(query, items.AsSpan(i * TestData.Dims, TestData.Dims), metric)))
                .OrderByDescending(x => x.Score).ThenBy(x => x.Id).Take(k).ToArray();
            Assert.Equal(k, exact.Search(query, k, single, singleScores));
            for (int j = 0; j < k; j++)
            {
                // Same set and order up to float rounding: compare scores tightly, ids where scores are not near-ties.
                float tolerance = 1e-5f * Math.Max(1f, Math.Abs(naive[j].Score));
                Assert.InRange(scores[q * k + j], naive[j].Score - tolerance, naive[j].Score + tolerance);
                Assert.InRange(singleScores[j], naive[j].Score - tolerance, naive[j].Score + tolerance);
                if (j + 1 < k && naive[j].Score - naive[j + 1].Score > 1e-4f && (j == 0 || naive[j - 1].Score - naive[j].Score > 1e-4f))
                {
                    Assert.Equal(naive[j].Id, ids[q * k + j]);
                    Assert.Equal(naive[j].Id, single[j]);
                }
            }
        }
    }

    [Fact]
    public void Excluded_items_are_skipped_and_k_still_returned()
    {
        var exact = new ExactSearch(TestData.Items, TestData.Count, TestData.Dims, Metric.Dot);
        var query = TestData.QueryVectors.AsSpan(0, TestData.Dims);
        var first = new int[20];
        var scores = new float[20];
        exact.Search(query, 20, first, scores);
        var excluded = first[..10];
        var ids = new int[10];
        Assert.Equal(10, exact.Search(query, 10, ids, scores, excluded));
        Assert.Equal(first[10..20], ids);
    }

    [Fact]
    public void Fewer_items_than_k_pads_batch_results()
    {
        var items = TestData.Items[..(3 * TestData.Dims)];
        var exact = new ExactSearch(items, 3, TestData.Dims, Metric.Cosine);
        var ids = new int[5];
        var scores = new float[5];
        exact.SearchBatch(TestData.QueryVectors.AsSpan(0, TestData.Dims), 1, 5, ids, scores);
        Assert.Equal([0, 1, 2], ids[..3].Order().ToArray());
        Assert.Equal(-1, ids[3]);
        Assert.True(float.IsNaN(scores[4]));
    }
}
