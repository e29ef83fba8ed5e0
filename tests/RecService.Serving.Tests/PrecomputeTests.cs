using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Batch;
using RecService.Redis;
using StackExchange.Redis;

namespace RecService.Serving.Tests;

/// <summary>`rec precompute`'s library against brute force, and replicas serving (then dropping) the stored lists, on a real Redis.</summary>
public sealed class PrecomputeTests
{
    [Fact]
    public async Task Exact_precompute_stores_each_users_brute_force_top_list_with_the_model_version()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var world = new TestWorld(seed: 31, users: 60, tracks: 700, clusters: 7);
        var store = new BundleStore(models.Path);
        var manifest = world.Publish(store);
        using var bundle = ModelBundle.Open(store.PathOf(manifest.ModelVersion));
        await using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var db = connection.GetDatabase();

        // 13 users in batches of 8: a batch of one full query panel of six and a partial one, then a partial panel alone.
        var report = await DiscoverPrecompute.RunAsync(bundle, db, new PrecomputeOptions { Count = 20, MaxUsers = 13, BatchUsers = 8, KeyPrefix = "t:" });
        Assert.Equal(13, report.Users);
        for (var u = 0; u < 14; u++)
        {
            var stored = (byte[]?)await db.StringGetAsync($"t:discover:{TestWorld.UserId(u)}");
            if (u == 13)
            {
                Assert.Null(stored);
                continue;
            }
            Assert.NotNull(stored);
            var ids = new int[20];
            var scores = new float[20];
            Assert.Equal(-1, PrecomputedList.Decode(stored, "another-version", ids, scores));
            Assert.Equal(20, PrecomputedList.Decode(stored, manifest.ModelVersion, ids, scores));
            Assert.Equal(world.ExactRecommend(u, 20), ids);
            Assert.True((await db.KeyTimeToLiveAsync($"t:discover:{TestWorld.UserId(u)}")) > TimeSpan.FromDays(1));
        }

        // Forest mode: close to exact.
        await DiscoverPrecompute.RunAsync(bundle, db, new PrecomputeOptions { Count = 10, Exact = false, KeyPrefix = "f:" });
        var hits = 0;
        for (var u = 0; u < world.Users; u++)
        {
            var ids = new int[10];
            PrecomputedList.Decode((byte[])(await db.StringGetAsync($"f:discover:{TestWorld.UserId(u)}"))!, manifest.ModelVersion, ids, new float[10]);
            hits += world.ExactRecommend(u, 10).Intersect(ids).Count();
        }
        Assert.True(hits >= 0.9 * world.Users * 10, $"forest precompute recall {hits / (world.Users * 10.0):F3}");
    }

    [Fact]
    public async Task A_replica_serves_a_precomputed_list_for_its_model_and_ignores_it_after_a_new_model()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var world = new TestWorld(seed: 32, users: 80, tracks: 600, clusters: 6);
        var store = new BundleStore(models.Path);
        var v1 = world.Publish(store, "v1");
        await using (var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration))
        {
            using var bundle = ModelBundle.Open(store.PathOf(v1.ModelVersion));
            await DiscoverPrecompute.RunAsync(bundle, connection.GetDatabase(), new PrecomputeOptions { Count = 30 });
        }
        await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration);
        await replica.WaitForVersionAsync(v1.ModelVersion);

        const int user = 4;
        var exact = world.ExactRecommend(user, 12).Select(TestWorld.TrackId).ToArray();
        var served = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(user), Count = 10 });
        Assert.Equal("precomputed", served.Source);
        Assert.False(served.Degraded);
        Assert.Equal(exact[..10], served.Items.Select(i => i.Id));
        Assert.All(served.Items, i => Assert.StartsWith("because you listen to", i.Reason));

        // Request exclusions are applied to the stored list.
        var excluding = new RecommendRequest { UserId = TestWorld.UserId(user), Count = 10 };
        excluding.ExcludeTrackIds.Add(exact[0]);
        excluding.ExcludeTrackIds.Add(exact[3]);
        var filtered = await replica.Client.RecommendAsync(excluding);
        Assert.Equal("precomputed", filtered.Source);
        Assert.Equal(exact.Where((_, i) => i is not (0 or 3)).Take(10), filtered.Items.Select(i => i.Id));

        // Lists are computed without played tracks: a request that wants them is computed live.
        var withPlayed = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(user), Count = 10, ExcludePlayed = false });
        Assert.Equal("model", withPlayed.Source);
        // More than was stored: live.
        Assert.Equal("model", (await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(user), Count = 40 })).Source);

        // Fresh plays outrank a stored list: it was computed without them.
        Assert.Equal("precomputed", (await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(5) })).Source);
        var plays = new RecordPlaysRequest { UserId = TestWorld.UserId(5) };
        plays.Plays.Add(new Play { TrackId = TestWorld.TrackId(1), Count = 3 });
        Assert.False((await replica.Client.RecordPlaysAsync(plays)).Degraded);
        var fresh = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(5) });
        Assert.Equal("realtime", fresh.Source);
        Assert.DoesNotContain(fresh.Items, i => i.Id == TestWorld.TrackId(1));

        // A new model: the stored lists belong to v1 and are no longer used.
        var v2 = new TestWorld(seed: 33, users: 80, tracks: 600, clusters: 6).Publish(store, "v2");
        await replica.WaitForVersionAsync(v2.ModelVersion);
        var after = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(user), Count = 10 });
        Assert.Equal("model", after.Source);
        Assert.Equal(v2.ModelVersion, after.ModelVersion);
    }
}
