using RecService.Serving.State;
using StackExchange.Redis;

namespace RecService.Serving.Precompute;

/// <summary>Reads precomputed lists for the replica (Redis only: without it there are none).</summary>
public sealed class PrecomputedLists(RedisLink redis)
{
    /// <summary>No list, and nothing degraded: what a request that cannot use a stored list gets.</summary>
    public static readonly RedisAnswer<byte[]?> NotAsked = new(true, null);

    /// <summary>The raw stored list for a user, null when there is none; <c>Degraded</c> when Redis could not be asked.</summary>
    public async ValueTask<RedisAnswer<byte[]?>> GetAsync(string userId)
    {
        if (!redis.Configured) return NotAsked;
        return await redis.TryAsync("precomputed", async db => (byte[]?)await db.StringGetAsync(redis.Keys.PrecomputedList(userId)));
    }
}
