using RecService.Core.Forest;
using RecService.Core.Vectors;
using RecService.Synthetic;

namespace RecService.Core.Tests;

public sealed class ForestIndexTests : IDisposable
{
    private readonly List<string> _files = [];

    private string Build(Metric metric, int trees = 6, int seed = 1, int threads = 0, int leafSize = 24, float[]? items = null, int count = TestData.Count, int codedTrees = 1)
    {
        string path = TestData.TempPath($"{metric}.idx");
        _files.Add(path);
        ForestBuilder.Build(items ?? TestData.Items, count, TestData.Dims,
            new ForestOptions { Metric = metric, Trees = trees, Seed = seed, Threads = threads, LeafSize = leafSize, CodedTrees = codedTrees }, path);
        return path;
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Code_copies_per_tree_change_the_layout_not_the_answers(Metric metric)
    {
        using var shared = ForestIndex.Open(Build(metric, codedTrees: 1));
        using var copies = ForestIndex.Open(Build(metric, codedTrees: 0));
        Assert.True(copies.FileBytes > shared.FileBytes + 4 * TestData.Count * TestData.Dims, "five more code copies expected");
        var a = new int[10];
        var b = new int[10];
        var sa = new float[10];
        var sb = new float[10];
        for (int q = 0; q < TestData.Queries; q++)
        {
            var query = TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims);
            shared.Search(query, 10, a, sa, 400, [q, q + 1]);
            copies.Search(query, 10, b, sb, 400, [q, q + 1]);
            Assert.Equal(a, b);
            Assert.Equal(sa, sb);
        }
    }

    public void Dispose()
    {
        foreach (var f in _files) File.Delete(f);
    }

    private static int[] Truth(Metric metric, int k)
    {
        var exact = new ExactSearch(TestData.Items, TestData.Count, TestData.Dims, metric);
        var truth = new int[TestData.Queries * k];
        exact.SearchBatch(TestData.QueryVectors, TestData.Queries, k, truth, new float[truth.Length]);
        return truth;
    }

    private static double Recall(ForestIndex index, int k, int searchK, float stopSlack = 0) => Measure(index, k, searchK, stopSlack).Recall;

    /// <summary>Recall@k over the test queries, and how many items they scored on codes in all.</summary>
    private static (double Recall, long Scored) Measure(ForestIndex index, int k, int searchK, float stopSlack)
    {
        var truth = Truth(index.Metric, k);
        var ids = new int[k];
        var scores = new float[k];
        long hits = 0, scored = 0;
        for (int q = 0; q < TestData.Queries; q++)
        {
            int n = index.Search(TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims), k, ids, scores, new ForestSearchOptions(searchK, stopSlack),
                default, out var stats);
            scored += stats.Scored;
            Assert.Equal(k, n);
            var expected = truth.AsSpan(q * k, k).ToArray();
            hits += ids.Count(expected.Contains);
        }
        return ((double)hits / (TestData.Queries * k), scored);
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Scanning_everything_is_exact(Metric metric)
    {
        using var index = ForestIndex.Open(Build(metric));
        Assert.Equal(1.0, Recall(index, 10, TestData.Count), 3);
    }

    // Floors about 0.03 under the values measured when written (cosine 0.819 / 0.937 / 0.992, dot 0.876 / 0.956 / 0.985
    // at 2%, 4%, 8% of the items scored; the build is deterministic, the slack absorbs float differences between CPUs).
    // A regression in splits, queue priority, code scoring or the MIPS transform shows up here first.
    [Theory]
    [InlineData(Metric.Cosine, 100, 0.79)]
    [InlineData(Metric.Dot, 100, 0.85)]
    [InlineData(Metric.Cosine, 200, 0.91)]
    [InlineData(Metric.Dot, 200, 0.93)]
    [InlineData(Metric.Cosine, 400, 0.96)]
    [InlineData(Metric.Dot, 400, 0.955)]
    public void Recall_floors_at_fixed_search_sizes(Metric metric, int searchK, double floor)
    {
        using var index = ForestIndex.Open(Build(metric));
        double recall = Recall(index, 10, searchK);
        Assert.True(recall >= floor, $"{metric} recall@10 at search-k {searchK} is {recall:F4}, floor {floor}");
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Early_stop_scores_fewer_items_and_keeps_most_of_the_recall(Metric metric)
    {
        using var index = ForestIndex.Open(Build(metric));
        const int budget = 800; // 16% of the items: enough that most queries can stop before it
        var (full, scoredFull) = Measure(index, 10, budget, stopSlack: 0);
        var (stopped, scoredStopped) = Measure(index, 10, budget, stopSlack: index.DefaultOptions.StopSlack);
        Assert.True(scoredStopped < 0.8 * scoredFull, $"{metric}: early stop scored {scoredStopped} items against {scoredFull} without it");
        Assert.True(stopped >= full - 0.01, $"{metric}: recall@10 {stopped:F4} with the early stop against {full:F4} without it");
        // Asking for every item always scans everything, whatever the slack.
        Assert.Equal(1.0, Recall(index, 10, TestData.Count, stopSlack: 1000), 3);
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Sixty_four_dimensions_scan_exactly_on_their_own_kernel(Metric metric)
    {
        // 64 wide is the common factor count and has its own code kernel (AVX-512, where the CPU has it): a full scan
        // must still return the exact answer, which needs every code score right enough to keep the true top 10
        // among the 32 re-ranked.
        const int count = 3000, dims = 64, queries = 50, k = 10;
        var (items, qs) = SyntheticFactors.Generate(new SyntheticFactors.Options(count, dims, queries, Seed: 11) { Clusters = 40 });
        string path = TestData.TempPath($"{metric}-64.idx");
        _files.Add(path);
        ForestBuilder.Build(items, count, dims, new ForestOptions { Metric = metric, Trees = 4, LeafSize = 32, Seed = 3 }, path);
        using var index = ForestIndex.Open(path);
        var exact = new ExactSearch(items, count, dims, metric);
        var ids = new int[k];
        var expected = new int[k];
        for (int q = 0; q < queries; q++)
        {
            var query = qs.AsSpan(q * dims, dims);
            Assert.Equal(k, index.Search(query, k, ids, new float[k], searchK: count));
            exact.Search(query, k, expected, new float[k]);
            Assert.Equal(expected, ids);
        }
    }

    [Fact]
    public void Dot_index_finds_large_norm_items_a_cosine_index_would_miss()
    {
        // The MIPS answers differ from the cosine answers on this data (heavy-tailed norms): check the dot index returns
        // the inner-product top 10, not the angular one.
        using var index = ForestIndex.Open(Build(Metric.Dot));
        var cosineTruth = Truth(Metric.Cosine, 10);
        var dotTruth = Truth(Metric.Dot, 10);
        int differing = 0;
        for (int i = 0; i < dotTruth.Length; i++) if (!cosineTruth.AsSpan(i / 10 * 10, 10).Contains(dotTruth[i])) differing++;
        Assert.True(differing > dotTruth.Length / 4, "test data should make MIPS and cosine answers differ");
        Assert.True(Recall(index, 10, 1500) >= 0.98);
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Scores_are_the_metric_of_the_returned_items(Metric metric)
    {
        using var index = ForestIndex.Open(Build(metric));
        var ids = new int[10];
        var scores = new float[10];
        var q = TestData.QueryVectors.AsSpan(0, TestData.Dims);
        Assert.Equal(10, index.Search(q, 10, ids, scores));
        for (int j = 0; j < 10; j++)
        {
            float expected = TestData.NaiveScore(q, TestData.Items.AsSpan(ids[j] * TestData.Dims, TestData.Dims), metric);
            Assert.InRange(scores[j], expected - 1e-4f * Math.Max(1, Math.Abs(expected)), expected + 1e-4f * Math.Max(1, Math.Abs(expected)));
            if (j > 0) Assert.True(scores[j - 1] >= scores[j]);
        }
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public void Excluded_items_never_come_back_and_k_results_still_do(Metric metric)
    {
        using var index = ForestIndex.Open(Build(metric));
        const int k = 10;
        var ids = new int[k];
        var scores = new float[k];
        for (int q = 0; q < 20; q++)
        {
            var query = TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims);
            // Exclude the true top 200 (a heavy listener's history), in shuffled order, plus out-of-range ids.
            var exact = new ExactSearch(TestData.Items, TestData.Count, TestData.Dims, metric);
            var top = new int[200];
            exact.Search(query, 200, top, new float[200]);
            var excluded = top.OrderBy(x => (x * 7919) % 200).Append(-5).Append(TestData.Count + 3).ToArray();
            Assert.Equal(k, index.Search(query, k, ids, scores, searchK: 200, excluded: excluded));
            Assert.Empty(ids.Intersect(top));
            Assert.Equal(k, ids.Distinct().Count());
            // With a generous searchK, the answer equals exact search with the same exclusions.
            index.Search(query, k, ids, scores, searchK: TestData.Count, excluded: excluded);
            var expected = new int[k];
            exact.Search(query, k, expected, new float[k], excluded);
            Assert.Equal(expected, ids);
        }
    }

    [Fact]
    public void Excluding_almost_everything_returns_what_is_left()
    {
        using var index = ForestIndex.Open(Build(Metric.Cosine));
        var excluded = Enumerable.Range(0, TestData.Count).Where(i => i % 1000 != 0).ToArray();
        var ids = new int[10];
        var scores = new float[10];
        int n = index.Search(TestData.QueryVectors.AsSpan(0, TestData.Dims), 10, ids, scores, searchK: 10, excluded: excluded);
        Assert.Equal(5, n);
        Assert.Equal([0, 1000, 2000, 3000, 4000], ids[..n].Order().ToArray());
    }

    [Fact]
    public void Search_by_item_skips_the_item_and_matches_exact_neighbours()
    {
        using var index = ForestIndex.Open(Build(Metric.Cosine));
        var exact = new ExactSearch(TestData.Items, TestData.Count, TestData.Dims, Metric.Cosine);
        var ids = new int[10];
        var expected = new int[11];
        int hits = 0;
        for (int item = 0; item < 200; item += 7)
        {
            Assert.Equal(10, index.SearchByItem(item, 10, ids, new float[10], searchK: 1000));
            Assert.DoesNotContain(item, ids);
            exact.Search(TestData.Items.AsSpan(item * TestData.Dims, TestData.Dims), 11, expected, new float[11], [item]);
            hits += ids.Intersect(expected[..10]).Count();
        }
        Assert.True(hits >= 0.95 * 29 * 10, $"by-item recall {hits / 290.0:F3}");
    }

    [Fact]
    public void Vectors_are_served_from_the_file_unchanged()
    {
        using var index = ForestIndex.Open(Build(Metric.Dot));
        Assert.Equal((TestData.Count, TestData.Dims, Metric.Dot), (index.Count, index.Dimensions, index.Metric));
        for (int i = 0; i < TestData.Count; i += 97)
            Assert.True(index.GetVector(i).SequenceEqual(TestData.Items.AsSpan(i * TestData.Dims, TestData.Dims)));
        Assert.Throws<ArgumentOutOfRangeException>(() => index.GetVector(TestData.Count));
    }

    [Fact]
    public void Build_is_deterministic_for_a_seed_at_any_thread_count()
    {
        var one = File.ReadAllBytes(Build(Metric.Dot, seed: 11, threads: 1));
        var two = File.ReadAllBytes(Build(Metric.Dot, seed: 11, threads: 2));
        var other = File.ReadAllBytes(Build(Metric.Dot, seed: 12, threads: 2));
        Assert.Equal(one, two);
        Assert.NotEqual(one, other);
    }

    [Fact]
    public void Queries_from_many_threads_agree_with_one_thread()
    {
        using var index = ForestIndex.Open(Build(Metric.Cosine));
        const int k = 10;
        var expected = new int[TestData.Queries * k];
        for (int q = 0; q < TestData.Queries; q++)
            index.Search(TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims), k, expected.AsSpan(q * k, k), new float[k], 300);
        var actual = new int[TestData.Queries * k];
        Parallel.For(0, TestData.Queries * 4, new ParallelOptions { MaxDegreeOfParallelism = 4 }, i =>
        {
            int q = i % TestData.Queries;
            var ids = new int[k];
            index.Search(TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims), k, ids, new float[k], 300);
            if (i >= TestData.Queries * 3) ids.CopyTo(actual.AsSpan(q * k, k));
        });
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Tiny_and_degenerate_inputs_work()
    {
        // All vectors equal (no split possible), fewer items than a leaf, fewer items than k.
        var same = Enumerable.Repeat(Enumerable.Range(0, TestData.Dims).Select(j => (float)j), 300).SelectMany(x => x).ToArray();
        using (var index = ForestIndex.Open(Build(Metric.Cosine, items: same, count: 300, leafSize: 8)))
        {
            var ids = new int[10];
            Assert.Equal(10, index.Search(same.AsSpan(0, TestData.Dims), 10, ids, new float[10], 50));
            Assert.Equal(10, ids.Distinct().Count());
        }
        using (var index = ForestIndex.Open(Build(Metric.Dot, count: 3)))
        {
            var ids = new int[10];
            Assert.Equal(3, index.Search(TestData.QueryVectors.AsSpan(0, TestData.Dims), 10, ids, new float[10]));
        }
    }

    [Fact]
    public void Queries_allocate_nothing_once_the_thread_is_warm()
    {
        using var index = ForestIndex.Open(Build(Metric.Dot));
        var ids = new int[10];
        var scores = new float[10];
        int[] excluded = [1, 2, 3, 500];
        index.Search(TestData.QueryVectors.AsSpan(0, TestData.Dims), 10, ids, scores, 300, excluded); // sizes the thread's buffers
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int q = 0; q < TestData.Queries; q++)
        {
            index.Search(TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims), 10, ids, scores, 300, excluded);
            index.SearchByItem(q, 10, ids, scores, 300);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Code_copies_by_default_follow_the_size_of_one_copy()
    {
        var byDefault = new ForestOptions { Trees = 5 };
        Assert.Equal(ForestOptions.CodedTreesBySize, byDefault.CodedTrees);
        // 200k x 64 (12.8 MB a copy) keeps one copy; 500k x 64 (32 MB) gets one per tree.
        Assert.Equal(1, byDefault.CodedTreeCount(200_000, 64));
        Assert.Equal(1, byDefault.CodedTreeCount((int)(ForestOptions.AllCodedAboveBytes / 64), 64));
        Assert.Equal(5, byDefault.CodedTreeCount((int)(ForestOptions.AllCodedAboveBytes / 64) + 1, 64));
        Assert.Equal(5, byDefault.CodedTreeCount(1_000_000, 64));
        // Never more copies than one code array holds: 10M x 64 fits three, 40M x 64 only tree 0's.
        Assert.Equal(3, byDefault.CodedTreeCount(10_000_000, 64));
        Assert.Equal(1, byDefault.CodedTreeCount(40_000_000, 64));
        // Explicit counts are kept (capped at the tree count); 0 is every tree.
        Assert.Equal(5, (byDefault with { CodedTrees = 0 }).CodedTreeCount(1000, 64));
        Assert.Equal(2, (byDefault with { CodedTrees = 2 }).CodedTreeCount(1_000_000, 64));
        Assert.Equal(5, (byDefault with { CodedTrees = 9 }).CodedTreeCount(1000, 64));
        var bad = byDefault with { CodedTrees = -2 };
        Assert.Throws<ArgumentOutOfRangeException>(() => ForestBuilder.Build(TestData.Items, TestData.Count, TestData.Dims, bad, TestData.TempPath("bad.idx")));
        // A small build by default has one copy: its file is the one-copy size.
        using var small = ForestIndex.Open(Build(Metric.Dot, trees: 5, codedTrees: ForestOptions.CodedTreesBySize));
        using var one = ForestIndex.Open(Build(Metric.Dot, trees: 5, codedTrees: 1));
        Assert.Equal(one.FileBytes, small.FileBytes);
    }

    [Theory]
    [InlineData(Metric.Cosine)]
    [InlineData(Metric.Dot)]
    public unsafe void External_vectors_leave_the_file_and_change_no_answer(Metric metric)
    {
        using var own = ForestIndex.Open(Build(metric));
        string path = TestData.TempPath($"{metric}-external.idx");
        _files.Add(path);
        ForestBuilder.Build(TestData.Items, TestData.Count, TestData.Dims,
            new ForestOptions { Metric = metric, Trees = 6, Seed = 1, LeafSize = 24, CodedTrees = 1, ExternalVectors = true }, path);
        var vectors = GC.AllocateArray<float>(TestData.Count * TestData.Dims, pinned: true);
        TestData.Items.AsSpan(0, vectors.Length).CopyTo(vectors);
        fixed (float* data = vectors)
        {
            using var external = ForestIndex.Open(path, new ExternalVectors(data, TestData.Count, TestData.Dims));
            Assert.True(external.VectorsExternal);
            Assert.False(own.VectorsExternal);
            Assert.Equal(own.FileBytes - (long)TestData.Count * TestData.Dims * sizeof(float), external.FileBytes, tolerance: ForestHeader.Alignment);
            var (a, b) = (new int[10], new int[10]);
            var (sa, sb) = (new float[10], new float[10]);
            for (int q = 0; q < TestData.Queries; q++)
            {
                var query = TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims);
                own.Search(query, 10, a, sa, 400, [q]);
                external.Search(query, 10, b, sb, 400, [q]);
                Assert.Equal(a, b);
                Assert.Equal(sa, sb);
                own.SearchByItem(q, 10, a, sa);
                external.SearchByItem(q, 10, b, sb);
                Assert.Equal(a, b);
            }
            Assert.True(external.GetVector(7).SequenceEqual(own.GetVector(7)));
            // Vectors of another shape are refused.
            var shorter = new ExternalVectors(data, TestData.Count - 1, TestData.Dims);
            Assert.Throws<ArgumentException>(() => ForestIndex.Open(path, shorter));
        }
        // Without its vectors the file still verifies, and refuses queries with a clear error.
        using var bare = ForestIndex.Open(path);
        bare.Verify();
        var error = Assert.Throws<InvalidOperationException>(() => bare.Search(TestData.QueryVectors.AsSpan(0, TestData.Dims), 10, new int[10], new float[10]));
        Assert.Contains("external vectors", error.Message);
        Assert.Throws<InvalidOperationException>(() => bare.GetVector(0));
        Assert.Throws<InvalidOperationException>(() => bare.SearchByItem(0, 10, new int[10], new float[10]));
    }

    [Fact]
    public void A_disposed_index_refuses_queries()
    {
        var index = ForestIndex.Open(Build(Metric.Cosine));
        index.Dispose();
        index.Dispose(); // idempotent
        Assert.Throws<ObjectDisposedException>(() => index.Search(TestData.QueryVectors.AsSpan(0, TestData.Dims), 10, new int[10], new float[10]));
        Assert.Throws<ObjectDisposedException>(() => index.GetVector(0));
    }

    [Fact]
    public void Wrong_query_shape_is_an_argument_error()
    {
        using var index = ForestIndex.Open(Build(Metric.Cosine));
        Assert.Throws<ArgumentException>(() => index.Search(new float[TestData.Dims + 1], 10, new int[10], new float[10]));
        var nan = new float[TestData.Dims];
        nan[3] = float.NaN;
        Assert.Throws<ArgumentException>(() => index.Search(nan, 10, new int[10], new float[10]));
        Assert.Equal(0, index.Search(new float[TestData.Dims], 0, new int[10], new float[10]));
    }
}
