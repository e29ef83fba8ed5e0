using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Serving.Tests;

/// <summary>The bundle's forest settings reach the files the replicas map.</summary>
public sealed class BundleForestTests : IDisposable
{
    private readonly TempDirectory _models = new();

    public void Dispose() => _models.Dispose();

    [Fact]
    public void Code_copies_per_tree_follow_the_bundle_options_and_keep_the_answers()
    {
        var world = new TestWorld(seed: 5, users: 40, tracks: 400, clusters: 8);
        var one = Open(world, "one", new BundleForestOptions { TrackTrees = 4, ArtistTrees = 2, Threads = 1, CodedTrees = 1 });
        var every = Open(world, "every", new BundleForestOptions { TrackTrees = 4, ArtistTrees = 2, Threads = 1, CodedTrees = 0 });
        try
        {
            // Three more copies of 400 tracks' codes (16 dimensions pad to 16 bytes) in each track forest, one more of 8 artists'.
            Assert.Equal(AlsParts.Of(one).Tracks.DotForest.FileBytes + 3 * 400 * 16 + 3 * 400 * 4, AlsParts.Of(every).Tracks.DotForest.FileBytes, tolerance: 64 * 2);
            Assert.Equal(AlsParts.Of(one).Tracks.CosineForest.FileBytes + 3 * 400 * 16 + 3 * 400 * 4, AlsParts.Of(every).Tracks.CosineForest.FileBytes, tolerance: 64 * 2);
            Assert.True(AlsParts.Of(every).Artists.CosineForest.FileBytes > AlsParts.Of(one).Artists.CosineForest.FileBytes);
            // The float vectors are kept once, in the factor matrices: no forest carries its own.
            Assert.All(new[] { AlsParts.Of(one).Tracks.DotForest, AlsParts.Of(one).Tracks.CosineForest, AlsParts.Of(one).Artists.CosineForest }, f => Assert.True(f.VectorsExternal));
            var (a, b) = (new int[10], new int[10]);
            var (sa, sb) = (new float[10], new float[10]);
            for (var u = 0; u < world.Users; u++)
            {
                var user = world.UserFactors.AsSpan(u * TestWorld.Factors, TestWorld.Factors);
                AlsParts.Of(one).Tracks.DotForest.Search(user, 10, a, sa);
                AlsParts.Of(every).Tracks.DotForest.Search(user, 10, b, sb);
                Assert.Equal(a, b);
            }
        }
        finally
        {
            one.Dispose();
            every.Dispose();
        }
    }

    [Fact]
    public void A_bundle_whose_forests_carry_their_own_vectors_still_opens_and_answers_alike()
    {
        var world = new TestWorld(seed: 6, users: 30, tracks: 300, clusters: 6);
        var forests = new BundleForestOptions { TrackTrees = 4, ArtistTrees = 2, Threads = 1 };
        var store = new BundleStore(Path.Combine(_models.Path, "older"));
        var manifest = world.Publish(store, "older", forests: forests);
        var directory = store.PathOf(manifest.ModelVersion);
        int[] expected = new int[10], actual = new int[10];
        float[] scores = new float[10];
        using (var current = ModelBundle.Open(directory))
            AlsParts.Of(current).Tracks.DotForest.Search(world.UserFactors.AsSpan(0, TestWorld.Factors), 10, expected, scores);
        // As bundles were written before the forests left their vectors to the matrices, manifest included.
        var forestPath = Path.Combine(directory, BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest"));
        ForestBuilder.Build(world.TrackFactors, 300, TestWorld.Factors, new ForestOptions { Metric = Metric.Dot, Trees = 4, Seed = forests.Seed, Threads = 1 }, forestPath);
        var rewritten = BundleManifest.Read(directory);
        var at = rewritten.Files.FindIndex(f => f.Name == BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest"));
        rewritten.Files[at] = new BundleFileEntry(BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Dot, "forest"), new FileInfo(forestPath).Length, BundleManifest.Checksum(forestPath));
        File.WriteAllText(Path.Combine(directory, BundleManifest.FileName), rewritten.ToJson());
        using var older = ModelBundle.Open(directory);
        Assert.False(AlsParts.Of(older).Tracks.DotForest.VectorsExternal);
        AlsParts.Of(older).Tracks.DotForest.Search(world.UserFactors.AsSpan(0, TestWorld.Factors), 10, actual, scores);
        Assert.Equal(expected, actual);
    }

    private ModelBundle Open(TestWorld world, string name, BundleForestOptions forests)
    {
        var store = new BundleStore(Path.Combine(_models.Path, name));
        var manifest = world.Publish(store, name, forests: forests);
        return ModelBundle.Open(store.PathOf(manifest.ModelVersion));
    }
}
