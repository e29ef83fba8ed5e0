using RecService.Core.Bundle;

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
            Assert.Equal(one.TrackDot.FileBytes + 3 * 400 * 16 + 3 * 400 * 4, every.TrackDot.FileBytes, tolerance: 64 * 2);
            Assert.Equal(one.TrackCosine.FileBytes + 3 * 400 * 16 + 3 * 400 * 4, every.TrackCosine.FileBytes, tolerance: 64 * 2);
            Assert.True(every.ArtistCosine.FileBytes > one.ArtistCosine.FileBytes);
            var (a, b) = (new int[10], new int[10]);
            var (sa, sb) = (new float[10], new float[10]);
            for (var u = 0; u < world.Users; u++)
            {
                var user = world.UserFactors.AsSpan(u * TestWorld.Factors, TestWorld.Factors);
                one.TrackDot.Search(user, 10, a, sa);
                every.TrackDot.Search(user, 10, b, sb);
                Assert.Equal(a, b);
            }
        }
        finally
        {
            one.Dispose();
            every.Dispose();
        }
    }

    private ModelBundle Open(TestWorld world, string name, BundleForestOptions forests)
    {
        var store = new BundleStore(Path.Combine(_models.Path, name));
        var manifest = world.Publish(store, name, forests: forests);
        return ModelBundle.Open(store.PathOf(manifest.ModelVersion));
    }
}
