using StackExchange.Redis;

namespace RecService.Redis;

/// <summary>
/// Every Redis key and channel RecService uses, built from one prefix. Replicas, the worker and `rec precompute` all
/// build keys here, so they agree on them; the strings are what existing deployments hold (STATE.md lists them).
/// </summary>
public sealed class RedisKeys(string prefix = RedisKeys.DefaultPrefix)
{
    public const string DefaultPrefix = "recservice:";
    /// <summary>The pub/sub channel new model versions are announced on, unless configured otherwise.</summary>
    public const string DefaultModelChannel = DefaultPrefix + "models";

    public string Prefix { get; } = prefix;

    /// <summary>A user's fresh plays: a hash, track id -> play count.</summary>
    public RedisKey FreshPlays(string userId) => Prefix + "plays:" + userId;

    /// <summary>A radio station: its JSON.</summary>
    public RedisKey Station(string stationId) => Prefix + "station:" + stationId;

    /// <summary>The live stations: a sorted set, station id -> when its key expires (Unix ms), so their number can be bounded.</summary>
    public RedisKey Stations => Prefix + "stations";

    /// <summary>A user's precomputed Discover list (<see cref="PrecomputedList"/>).</summary>
    public RedisKey PrecomputedList(string userId) => Prefix + "discover:" + userId;

    /// <summary>The new-model channel (its name is configured on its own, not derived from the prefix).</summary>
    public static RedisChannel ModelChannel(string channel) => RedisChannel.Literal(channel);
}
