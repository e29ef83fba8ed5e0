using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RecService.Serving.State;
using StackExchange.Redis;

namespace RecService.Serving.Taste;

/// <summary>A track id and how many times it was played.</summary>
public readonly record struct TrackPlays(string TrackId, long Count);

/// <summary>A user's fresh plays as read, and whether Redis had to be left out.</summary>
public readonly record struct FreshPlays(IReadOnlyList<TrackPlays> Plays, bool Degraded)
{
    public static readonly FreshPlays None = new([], false);
}

/// <summary>
/// Plays users made since the model was trained (RecordPlays), per user: a Redis hash (track id -> count) under
/// <c>{prefix}plays:{user}</c> with a sliding TTL, so any replica sees them. Without Redis, or while it is down, they
/// go to in-process state; reads merge both, so plays taken during an outage still count on the replica that took them.
/// </summary>
public sealed class FreshPlayStore(RedisLink redis, IOptions<ServingOptions> options) : IDisposable
{
    public const string KeyKind = "plays";
    private readonly LocalState<ConcurrentDictionary<string, long>> _local = new(options.Value.LocalStateLimit, options.Value.FreshPlaysTtl);

    /// <summary>Adds plays; returns true when they were kept only in this replica (Redis configured but unreachable).</summary>
    public async ValueTask<bool> AppendAsync(string userId, IReadOnlyList<TrackPlays> plays)
    {
        if (redis.Configured)
        {
            var key = redis.Key(KeyKind, userId);
            var ttl = options.Value.FreshPlaysTtl;
            var answer = await redis.TryAsync("record_plays", async db =>
            {
                var batch = db.CreateBatch();
                var writes = new Task[plays.Count + 1];
                for (var i = 0; i < plays.Count; i++) writes[i] = batch.HashIncrementAsync(key, plays[i].TrackId, plays[i].Count);
                writes[^1] = batch.KeyExpireAsync(key, ttl);
                batch.Execute();
                await Task.WhenAll(writes);
                return true;
            });
            if (answer.Answered) return false;
        }
        var local = _local.GetOrAdd(userId, () => new ConcurrentDictionary<string, long>());
        foreach (var p in plays) local.AddOrUpdate(p.TrackId, p.Count, (_, c) => c + p.Count);
        return redis.Configured;
    }

    public async ValueTask<FreshPlays> GetAsync(string userId)
    {
        var local = _local.Get(userId);
        if (!redis.Configured) return local is null ? FreshPlays.None : new FreshPlays(Snapshot(local, []), false);
        var answer = await redis.TryAsync("fresh_plays", db => db.HashGetAllAsync(redis.Key(KeyKind, userId)));
        var shared = answer.Value ?? [];
        if (local is null && shared.Length == 0) return new FreshPlays([], answer.Degraded);
        var list = new List<TrackPlays>(shared.Length + (local?.Count ?? 0));
        foreach (var entry in shared)
        {
            if (entry.Value.TryParse(out long count) && count > 0) list.Add(new TrackPlays(entry.Name!, count));
        }
        return new FreshPlays(local is null ? list : Snapshot(local, list), answer.Degraded);
    }

    private static List<TrackPlays> Snapshot(ConcurrentDictionary<string, long> local, List<TrackPlays> into)
    {
        foreach (var (track, count) in local)
        {
            var i = into.FindIndex(p => p.TrackId == track);
            if (i >= 0) into[i] = into[i] with { Count = into[i].Count + count };
            else into.Add(new TrackPlays(track, count));
        }
        return into;
    }

    public void Dispose() => _local.Dispose();
}
