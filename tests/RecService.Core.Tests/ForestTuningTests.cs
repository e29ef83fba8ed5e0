using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Core.Tests;

/// <summary>
/// A forest's default search size tuned at build on its real queries: the stored size reaches the target recall
/// (measured again here against an independent exact scan), a clearly smaller one does not, and the file keeps
/// opening and verifying with the size as its default.
/// </summary>
public sealed class ForestTuningTests : IDisposable
{
    private readonly string _path = TestData.TempPath("tuned.idx");

    public void Dispose() => File.Delete(_path);

    private static double Recall(ForestIndex index, ForestSearchOptions options)
    {
        var ids = new int[10];
        var scores = new float[10];
        long hits = 0;
        for (var q = 0; q < TestData.Queries; q++)
        {
            var at = q * TestData.Dims;
            var truth = Enumerable.Range(0, TestData.Count)
                .OrderByDescending(i => TestData.NaiveScore(TestData.QueryVectors.AsSpan(at, TestData.Dims), TestData.Items.AsSpan(i * TestData.Dims, TestData.Dims), Metric.Dot))
                .ThenBy(i => i).Take(10).ToHashSet();
            var n = index.Search(TestData.QueryVectors.AsSpan(at, TestData.Dims), 10, ids, scores, options);
            for (var j = 0; j < n; j++) hits += truth.Contains(ids[j]) ? 1 : 0;
        }
        return (double)hits / (TestData.Queries * 10);
    }

    [Theory]
    [InlineData(0.9f)]
    [InlineData(0.99f)]
    public void The_stored_search_size_is_the_smallest_that_reaches_the_target(float target)
    {
        ForestBuilder.Build(TestData.Items, TestData.Count, TestData.Dims, new ForestOptions { Metric = Metric.Dot, Trees = 3, LeafSize = 16, Seed = 3, ExternalVectors = true }, _path);
        var tuned = ForestTuning.Tune(_path, TestData.Items, TestData.Count, TestData.Dims, TestData.QueryVectors, TestData.Queries, target, threads: 1, minimumSearchK: 0);
        Assert.Equal(TestData.Queries, tuned.Queries);
        Assert.True(tuned.Recall >= target, $"stored recall {tuned.Recall}");

        unsafe
        {
            fixed (float* items = TestData.Items)
            {
                using var index = ForestIndex.Open(_path, new ExternalVectors(items, TestData.Count, TestData.Dims));
                index.Verify(); // the body is untouched and the header checksum rewritten
                Assert.Equal(tuned.SearchK, index.DefaultOptions.SearchK);
                Assert.Equal(tuned.StopSlack, index.DefaultOptions.StopSlack);
                Assert.Equal(tuned.Recall, index.TunedRecall);
                // The tuning queries are the test's: the default reaches the target, a clearly smaller size does not.
                Assert.Equal(tuned.Recall, Recall(index, ForestSearchOptions.Default), 3);
                if (tuned.SearchK > 300) Assert.True(Recall(index, index.DefaultOptions with { SearchK = tuned.SearchK * 3 / 4 }) < target);
            }
        }
    }

    [Fact]
    public void Item_queries_leave_each_item_out_and_the_size_never_goes_below_the_minimum()
    {
        ForestBuilder.Build(TestData.Items, TestData.Count, TestData.Dims, new ForestOptions { Metric = Metric.Cosine, Trees = 3, LeafSize = 16, Seed = 3, ExternalVectors = true }, _path);
        var tuned = ForestTuning.Tune(_path, TestData.Items, TestData.Count, TestData.Dims, TestData.Items, TestData.Count, 0.9f, threads: 1, minimumSearchK: 700, queriesAreItems: true);
        Assert.True(tuned.SearchK >= 700);
        Assert.Equal(ForestTuning.MaxQueries, tuned.Queries);
        unsafe
        {
            fixed (float* items = TestData.Items)
            {
                using var index = ForestIndex.Open(_path, new ExternalVectors(items, TestData.Count, TestData.Dims));
                // Recall as a replica sees it: each of 100 items searched by id, never itself, against a naive scan.
                var ids = new int[10];
                var scores = new float[10];
                long hits = 0;
                for (var item = 0; item < TestData.Count; item += 50)
                {
                    var at = item * TestData.Dims;
                    var truth = Enumerable.Range(0, TestData.Count).Where(i => i != item)
                        .OrderByDescending(i => TestData.NaiveScore(TestData.Items.AsSpan(at, TestData.Dims), TestData.Items.AsSpan(i * TestData.Dims, TestData.Dims), Metric.Cosine))
                        .ThenBy(i => i).Take(10).ToHashSet();
                    var n = index.SearchByItem(item, 10, ids, scores, ForestSearchOptions.Default);
                    for (var j = 0; j < n; j++)
                    {
                        Assert.NotEqual(item, ids[j]);
                        hits += truth.Contains(ids[j]) ? 1 : 0;
                    }
                }
                Assert.True(hits / 1000.0 >= 0.87, $"recall {hits / 1000.0} of 100 items at the tuned size, {tuned.Recall} on the tuning queries");
            }
        }
    }

    [Fact]
    public void An_untuned_forest_keeps_the_metrics_default()
    {
        ForestBuilder.Build(TestData.Items, TestData.Count, TestData.Dims, new ForestOptions { Metric = Metric.Dot, Trees = 3, LeafSize = 16, Seed = 3 }, _path);
        using var index = ForestIndex.Open(_path);
        Assert.Equal(ForestSearchOptions.For(Metric.Dot), index.DefaultOptions);
        Assert.Equal(0, index.TunedRecall);
    }
}
