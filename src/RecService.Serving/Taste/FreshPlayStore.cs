using System.Collections.Concurrent;
using Microsoft.Extensions.Options;
using RecService.Serving.State;
using RecService.Serving.Telemetry;
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
/// What <see cref="FreshPlayStore.AppendAsync"/> kept (plays of new tracks past the user's bound are not). <see cref="Refused"/>:
/// nothing was kept because the user is new to this replica's in-process state and it is full.
/// </summary>
public readonly record struct AppendedPlays(int Kept, bool Degraded, bool Refused = false);

/// <summary>
/// Plays users made since the model was trained (RecordPlays), per user: a Redis hash (track id -> count) under
/// <c>{prefix}plays:{user}</c> with a sliding TTL, so any replica sees them. Without Redis, or while it is down, they
/// go to in-process state; reads merge both, so plays taken during an outage still count on the replica that took them,
/// and the first read that reaches Redis again moves them there.
/// Each holds at most <see cref="ServingOptions.StateSettings.MaxFreshTracks"/> distinct tracks per user; in-process
/// state holds at most <see cref="ServingOptions.StateSettings.LocalLimit"/> users and refuses new ones past it.
/// </summary>
public sealed class FreshPlayStore(RedisLink redis, IOptions<ServingOptions> options, ServingMetrics metrics) : IDisposable
{
    public const string StateKind = "fresh_plays";

    private readonly LocalState<LocalPlays> _local = new(options.Value.State.LocalLimit, options.Value.State.FreshPlaysTtl);

    /// <summary>One user's plays kept in this replica (track id -> count). <see cref="Moving"/> is set once, by the read
    /// that carries them to Redis, so concurrent reads neither carry them twice nor count them next to Redis's copy.</summary>
    private sealed class LocalPlays
    {
        public readonly ConcurrentDictionary<string, long> Counts = new();
        public int Moving;
    }

    // One round trip, atomic per user: a play counts if its track is held or the hash holds fewer tracks than the bound
    // (ARGV[1]); then the TTL (ARGV[2], ms) slides. Pairs of track id and count follow; returns the plays kept.
    private const string AppendScript = """
        local held = redis.call('HLEN', KEYS[1])
        local kept = 0
        for i = 3, #ARGV, 2 do
          local known = redis.call('HEXISTS', KEYS[1], ARGV[i]) == 1
          if known or held < tonumber(ARGV[1]) then
            redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1])
            if not known then held = held + 1 end
            kept = kept + 1
          end
        end
        redis.call('PEXPIRE', KEYS[1], ARGV[2])
        return kept
        """;

    /// <summary>Adds plays, up to the user's bound of distinct tracks. Degraded when they were kept only in this replica
    /// (Redis configured but unreachable).</summary>
    public async ValueTask<AppendedPlays> AppendAsync(string userId, IReadOnlyList<TrackPlays> plays)
    {
        if (redis.Configured)
        {
            var answer = await AppendSharedAsync("record_plays", userId, plays);
            if (answer.Answered) return new AppendedPlays(answer.Value, false);
        }
        if (!_local.TryGetOrAdd(userId, () => new LocalPlays(), out var local))
        {
            metrics.StateRefused(StateKind);
            return new AppendedPlays(0, redis.Configured, Refused: true);
        }
        return new AppendedPlays(AppendLocal(local, plays), redis.Configured);
    }

    private async ValueTask<RedisAnswer<int>> AppendSharedAsync(string operation, string userId, IReadOnlyList<TrackPlays> plays)
    {
        var key = redis.Keys.FreshPlays(userId);
        var args = new RedisValue[2 + 2 * plays.Count];
        args[0] = options.Value.State.MaxFreshTracks;
        args[1] = (long)options.Value.State.FreshPlaysTtl.TotalMilliseconds;
        for (var i = 0; i < plays.Count; i++)
        {
            args[2 + 2 * i] = plays[i].TrackId;
            args[3 + 2 * i] = plays[i].Count;
        }
        return await redis.TryAsync(operation, async db => (int)(long)await db.ScriptEvaluateAsync(AppendScript, [key], args));
    }

    private int AppendLocal(LocalPlays into, IReadOnlyList<TrackPlays> plays)
    {
        var limit = options.Value.State.MaxFreshTracks;
        var local = into.Counts;
        var held = local.Count;
        var kept = 0;
        foreach (var p in plays)
        {
            // The bound counts from this call's start: calls racing for one user may overshoot it by a few tracks.
            if (held >= limit && !local.ContainsKey(p.TrackId)) continue;
            if (local.TryAdd(p.TrackId, p.Count)) held++;
            else local.AddOrUpdate(p.TrackId, p.Count, (_, c) => c + p.Count);
            kept++;
        }
        return kept;
    }

    public async ValueTask<FreshPlays> GetAsync(string userId)
    {
        if (!redis.Configured) return _local.Get(userId) is { } only ? new FreshPlays(Snapshot(only.Counts, []), false) : FreshPlays.None;
        var answer = await redis.TryAsync("fresh_plays", db => db.HashGetAllAsync(redis.Keys.FreshPlays(userId)));
        // Local plays are read after Redis: plays another read is carrying there are left out (they are in Redis, or
        // on their way back here if it failed), never counted twice.
        var local = _local.Get(userId) is { } held && Volatile.Read(ref held.Moving) == 0 ? held : null;
        var shared = answer.Value ?? [];
        if (local is null && shared.Length == 0) return new FreshPlays([], answer.Degraded);
        var list = new List<TrackPlays>(shared.Length + (local?.Counts.Count ?? 0));
        foreach (var entry in shared)
        {
            if (entry.Value.TryParse(out long count) && count > 0) list.Add(new TrackPlays(entry.Name!, count));
        }
        if (local is null) return new FreshPlays(list, answer.Degraded);
        list = Snapshot(local.Counts, list);
        if (answer.Answered) await CarryOverAsync(userId, local);
        return new FreshPlays(list, answer.Degraded);
    }

    /// <summary>
    /// Plays this replica kept while Redis was unreachable move to Redis on the user's first read once it answers, so
    /// every replica sees them from then on, through the script RecordPlays uses (plays past the user's bound are
    /// dropped, as there). If Redis does not answer they come back here; a call that timed out after Redis applied it
    /// carries them again (at least once, not exactly once). A play recorded locally by a call racing this one (Redis
    /// failing for that call alone) can be left out.
    /// </summary>
    private async ValueTask CarryOverAsync(string userId, LocalPlays local)
    {
        if (Interlocked.Exchange(ref local.Moving, 1) != 0) return; // another read carries them
        _local.Remove(userId);
        var plays = local.Counts.Select(p => new TrackPlays(p.Key, p.Value)).ToList();
        if (plays.Count == 0) return;
        var moved = await AppendSharedAsync("carry_over_plays", userId, plays);
        if (moved.Answered) return;
        // Back where they were: these plays were accepted, so they return whatever the bound (merged with any taken meanwhile).
        if (_local.Get(userId) is { } since) AppendLocal(since, plays);
        else
        {
            var back = new LocalPlays();
            AppendLocal(back, plays);
            _local.Restore(userId, back);
        }
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
