using RecService.Redis;
using RecService.Serving.Recommendations;

namespace RecService.Serving.Tests;

/// <summary>The key strings existing deployments hold (STATE.md): every role builds them through <see cref="RedisKeys"/>.</summary>
public sealed class RedisKeysTests
{
    [Fact]
    public void Keys_and_the_model_channel_keep_their_stored_names()
    {
        var keys = new RedisKeys();
        Assert.Equal("recservice:plays:u1", keys.FreshPlays("u1").ToString());
        Assert.Equal("recservice:station:s1", keys.Station("s1").ToString());
        Assert.Equal("recservice:discover:u1", keys.PrecomputedList("u1").ToString());
        Assert.Equal("recservice:stations", keys.Stations.ToString());
        Assert.Equal("t:discover:u1", new RedisKeys("t:").PrecomputedList("u1").ToString());
        Assert.Equal("recservice:models", RedisKeys.DefaultModelChannel);
        Assert.Equal(RedisKeys.DefaultPrefix, new ServingOptions().Redis.KeyPrefix);
        Assert.Equal(RedisKeys.DefaultModelChannel, new ServingOptions().Redis.ModelChannel);
    }

    [Fact]
    public void Precompute_stores_at_most_what_one_Recommend_can_return()
    {
        Assert.Equal(RecommendationEngine.MaxCount, PrecomputedList.MaxTracks);
    }
}
