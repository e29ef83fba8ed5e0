using System.Text.Json;
using Microsoft.Extensions.Options;
using RecService.Serving.State;
using RecService.Serving.Telemetry;
using StackExchange.Redis;

namespace RecService.Serving.Radio;

/// <summary>
/// The outcome of a station read-change-write: whether the station exists, the change's result, and whether Redis was
/// left out. <see cref="Refused"/>: Redis is unreachable, this replica has no copy, and its in-process state is full.
/// </summary>
public readonly record struct StationChange<T>(bool Found, T? Result, bool Degraded, bool Contended = false, bool Refused = false);

/// <summary>Where <see cref="StationStore.CreateAsync"/> put a new station.</summary>
public enum StationCreated
{
    /// <summary>In Redis (or, without Redis, in this replica).</summary>
    Stored,
    /// <summary>In this replica only: Redis is configured but unreachable.</summary>
    StoredLocally,
    /// <summary>Nowhere: it would have been in-process, and that state is full.</summary>
    Refused,
    /// <summary>Nowhere: Redis holds <see cref="ServingOptions.RadioSettings.MaxStations"/> live stations.</summary>
    LimitReached,
}

/// <summary>
/// Where stations live: a JSON string per station in Redis (<c>{prefix}station:{id}</c>, TTL refreshed on every
/// change up to the station's maximum age; its lists are bounded by <see cref="RadioStations"/>; at most
/// <see cref="ServingOptions.RadioSettings.MaxStations"/> live at once) so any replica can continue any station;
/// changes are optimistic (WATCH-style condition on the old value, retried) so two replicas changing one station never
/// lose an update. Without Redis, stations are in-process;
/// while Redis is unreachable, a station continues from this replica's copy or is rebuilt from the seed its id names,
/// and the answer is marked degraded.
/// </summary>
public sealed class StationStore(RedisLink redis, IOptions<ServingOptions> options, ServingMetrics metrics) : IDisposable
{
    public const string StateKind = "station";

    /// <summary>Whether stations go to Redis: a refusal then means Redis was unreachable.</summary>
    public bool RedisConfigured => redis.Configured;

    private const int Attempts = 16;
    /// <summary>Requests on one station within this replica take turns (striped by id), so only replicas contend.</summary>
    private readonly SemaphoreSlim[] _turns = Enumerable.Range(0, 64).Select(_ => new SemaphoreSlim(1, 1)).ToArray();
    private readonly LocalState<LocalStation> _local = new(options.Value.State.LocalLimit, options.Value.Radio.StationTtl);

    /// <summary>
    /// A station held in this replica, as the JSON it would have in Redis (UTF-8): to the collector one array without
    /// references. As objects a station is a string and a record per track, and thousands of live ones made every
    /// young collection copy and mark the stations started since the last (a 1M-track replica paused 5-50 ms per
    /// collection under radio load). Read and changed under its own lock.
    /// </summary>
    private sealed class LocalStation(byte[] json)
    {
        public byte[] Json = json;
        public RadioStation Read() => Decode(Json);
        public void Write(RadioStation station) => Json = Encode(station);
        public static LocalStation Of(RadioStation station) => new(Encode(station));
    }

    /// <summary>A station as stored, in Redis and in this replica alike: its JSON, UTF-8.</summary>
    private static byte[] Encode(RadioStation station) => JsonSerializer.SerializeToUtf8Bytes(station, RadioJson.Default.RadioStation);

    private static RadioStation Decode(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize(json, RadioJson.Default.RadioStation)!;

    // One round trip, atomic: expired entries leave the index of live stations (KEYS[2]); below the bound (ARGV[4]) the
    // station (KEYS[1]) is written with its TTL (ARGV[2], ms) and indexed by when it expires (ARGV[3]: now, Unix ms).
    // ARGV[1]: its JSON, ARGV[5]: its id. Returns 1 when stored, 0 at the bound. The shebang declares a script that
    // writes, so a Redis over maxmemory refuses it whole (OOM: the station goes degraded to this replica); a script
    // without one would be let through because its first write, the clean-up, does not grow memory.
    private const string CreateScript = """
        #!lua
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[3])
        if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        redis.call('ZADD', KEYS[2], tonumber(ARGV[3]) + tonumber(ARGV[2]), ARGV[5])
        return 1
        """;

    /// <summary>Saves a new station: in Redis below its bound of live stations, else (Redis unreachable, or no Redis) in
    /// this replica unless its in-process state is full.</summary>
    public async ValueTask<StationCreated> CreateAsync(RadioStation station)
    {
        if (redis.Configured)
        {
            var json = Encode(station);
            var ttl = (long)Ttl(station).TotalMilliseconds;
            RedisValue[] args = [json, ttl, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), options.Value.Radio.MaxStations, station.Id];
            var answer = await redis.TryAsync("station_create", async db => (long)await db.ScriptEvaluateAsync(CreateScript, [redis.Keys.Station(station.Id), redis.Keys.Stations], args));
            if (answer.Answered) return answer.Value == 1 ? StationCreated.Stored : Refuse(StationCreated.LimitReached);
        }
        if (!_local.TryAdd(station.Id, LocalStation.Of(station))) return Refuse(StationCreated.Refused);
        return redis.Configured ? StationCreated.StoredLocally : StationCreated.Stored;
    }

    /// <summary>
    /// How long a station is kept after this change: <see cref="ServingOptions.RadioSettings.StationTtl"/>, but never past
    /// <see cref="ServingOptions.RadioSettings.MaxStationAge"/> from its start; zero or less once it has ended.
    /// </summary>
    private TimeSpan Ttl(RadioStation station)
    {
        var radio = options.Value.Radio;
        var now = DateTimeOffset.UtcNow;
        if (station.Started == default) station.Started = now; // stored before starts were recorded: its age counts from now
        var left = station.Started + radio.MaxStationAge - now;
        return left < radio.StationTtl ? left : radio.StationTtl;
    }

    private T Refuse<T>(T refusal)
    {
        metrics.StateRefused(StateKind);
        return refusal;
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the station (in place) and stores the result. <paramref name="rebuild"/>
    /// makes a station from its id when Redis is unreachable and this replica has no copy. The change may run more
    /// than once when another replica changes the station at the same moment; it must depend only on the station.
    /// </summary>
    public async ValueTask<StationChange<T>> UpdateAsync<T>(string id, Func<RadioStation, T> change, Func<RadioStation?> rebuild)
    {
        if (redis.Configured)
        {
            var turn = _turns[(int)((uint)StringComparer.Ordinal.GetHashCode(id) % (uint)_turns.Length)];
            await turn.WaitAsync();
            try
            {
                var answer = await redis.TryAsync("station_update", db => UpdateSharedAsync(db, id, change));
                if (answer.Answered) return answer.Value;
            }
            finally
            {
                turn.Release();
            }
        }
        var local = _local.Get(id); // refreshes the sliding expiry
        if (local is null && redis.Configured && rebuild() is { } rebuilt)
        {
            // A rebuilt copy not kept would restart from the seed on every call: refuse it rather than repeat tracks.
            if (!_local.TryGetOrAdd(id, () => LocalStation.Of(rebuilt), out local)) return Refuse(new StationChange<T>(false, default, true, Refused: true));
        }
        if (local is null) return new StationChange<T>(false, default, redis.Configured);
        lock (local)
        {
            var station = local.Read();
            if (Ttl(station) <= TimeSpan.Zero) return new StationChange<T>(false, default, redis.Configured);
            var result = change(station);
            local.Write(station);
            return new StationChange<T>(true, result, redis.Configured);
        }
    }

    /// <summary>Optimistic read-change-write in Redis: the write only lands if the station is still what was read.</summary>
    private async Task<StationChange<T>> UpdateSharedAsync<T>(IDatabase db, string id, Func<RadioStation, T> change)
    {
        var key = redis.Keys.Station(id);
        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            if (attempt > 0) await Task.Delay(Random.Shared.Next(1, 2 + attempt)); // another replica won: back off a little
            var old = await db.StringGetAsync(key);
            // A station created while Redis was down lives here only: carry it over on its next change.
            var station = old.IsNull ? _local.Get(id)?.Read() : Decode((byte[])old!);
            if (station is null) return new StationChange<T>(false, default, false);
            var ttl = Ttl(station);
            if (ttl <= TimeSpan.Zero) return new StationChange<T>(false, default, false); // ended: its key expires now
            var result = change(station); // a copy of its own: read from Redis or from this replica's JSON
            var transaction = db.CreateTransaction();
            transaction.AddCondition(old.IsNull ? Condition.KeyNotExists(key) : Condition.StringEqual(key, old));
            _ = transaction.StringSetAsync(key, Encode(station), ttl);
            _ = transaction.SortedSetAddAsync(redis.Keys.Stations, id, (DateTimeOffset.UtcNow + ttl).ToUnixTimeMilliseconds());
            if (await transaction.ExecuteAsync())
            {
                if (old.IsNull) _local.Remove(id);
                return new StationChange<T>(true, result, false);
            }
        }
        return new StationChange<T>(true, default, false, Contended: true); // changed by others every time: the caller asks to retry
    }

    public void Dispose()
    {
        _local.Dispose();
        foreach (var turn in _turns) turn.Dispose();
    }
}
