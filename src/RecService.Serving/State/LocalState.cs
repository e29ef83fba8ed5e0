using System.Collections.Concurrent;

namespace RecService.Serving.State;

/// <summary>
/// In-process keyed state with a bound on entries and a sliding expiry: the whole store when Redis is not configured,
/// and the fallback while it is unreachable. Each replica has its own, so it is never shared.
/// At the bound a new key is refused (<see cref="TryAdd"/> and <see cref="TryGetOrAdd"/> answer false), as Redis'
/// <c>noeviction</c> does: a live entry is never evicted to make room, so nothing accepted is dropped before its TTL.
/// Expired entries are reclaimed: on read, and by a sweep when a new key finds the store full.
/// </summary>
public sealed class LocalState<T>(int limit, TimeSpan ttl, TimeProvider? clock = null) : IDisposable where T : class
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly TimeProvider _clock = clock ?? TimeProvider.System;
    private readonly long _ttlTicks = ttl.Ticks;
    private int _count; // entries held or being added: the bound is checked against this, not the dictionary's count
    private long _nextSweep; // UTC ticks: a full store sweeps for expired entries at most this often

    private sealed class Entry(T value, long touched)
    {
        public readonly T Value = value;
        public long Touched = touched; // UTC ticks of the last use
    }

    /// <summary>Entries held (expired ones not reclaimed yet included).</summary>
    public int Count => Volatile.Read(ref _count);

    private long Now => _clock.GetUtcNow().UtcTicks;

    private bool Expired(Entry entry, long now) => now - Volatile.Read(ref entry.Touched) >= _ttlTicks;

    /// <summary>The live value under <paramref name="key"/> (its expiry slides on), or null.</summary>
    public T? Get(string key)
    {
        if (!_entries.TryGetValue(key, out var entry)) return null;
        var now = Now;
        if (Expired(entry, now))
        {
            Reclaim(key, entry);
            return null;
        }
        Volatile.Write(ref entry.Touched, now);
        return entry.Value;
    }

    /// <summary>The live value under <paramref name="key"/>, or a new one from <paramref name="create"/>; false when the key is new and the store is full.</summary>
    public bool TryGetOrAdd(string key, Func<T> create, out T value)
    {
        for (var attempt = 0; attempt < 8; attempt++)
        {
            if (Get(key) is { } held)
            {
                value = held;
                return true;
            }
            if (!Reserve())
            {
                value = null!;
                return false;
            }
            var entry = new Entry(create(), Now);
            if (_entries.TryAdd(key, entry))
            {
                value = entry.Value;
                return true;
            }
            Interlocked.Decrement(ref _count); // another call added the key meanwhile: use theirs
        }
        throw new InvalidOperationException("Local state kept changing under one key for 8 attempts.");
    }

    /// <summary>Stores a new key; false when the store is full (or the key is held: use <see cref="Get"/> and change the value in place).</summary>
    public bool TryAdd(string key, T value)
    {
        if (Get(key) is not null) return false;
        if (!Reserve()) return false;
        if (_entries.TryAdd(key, new Entry(value, Now))) return true;
        Interlocked.Decrement(ref _count);
        return false;
    }

    /// <summary>
    /// Stores <paramref name="value"/> under <paramref name="key"/> whatever the bound: only for state this replica had
    /// already accepted and gives back (a carry-over to Redis that failed), so the store may briefly hold a few more.
    /// </summary>
    public void Restore(string key, T value)
    {
        if (_entries.TryAdd(key, new Entry(value, Now))) Interlocked.Increment(ref _count);
        else _entries[key] = new Entry(value, Now);
    }

    public void Remove(string key)
    {
        if (_entries.TryRemove(key, out _)) Interlocked.Decrement(ref _count);
    }

    /// <summary>Takes room for one new entry: past the bound, expired entries are swept first (at most once per second).</summary>
    private bool Reserve()
    {
        if (Interlocked.Increment(ref _count) <= limit) return true;
        Interlocked.Decrement(ref _count);
        var now = Now;
        var next = Volatile.Read(ref _nextSweep);
        if (now < next || Interlocked.CompareExchange(ref _nextSweep, now + TimeSpan.TicksPerSecond, next) != next) return false;
        foreach (var (key, entry) in _entries)
        {
            if (Expired(entry, now)) Reclaim(key, entry);
        }
        if (Interlocked.Increment(ref _count) <= limit) return true;
        Interlocked.Decrement(ref _count);
        return false;
    }

    /// <summary>Removes an expired entry unless it was replaced meanwhile.</summary>
    private void Reclaim(string key, Entry entry)
    {
        if (_entries.TryRemove(new KeyValuePair<string, Entry>(key, entry))) Interlocked.Decrement(ref _count);
    }

    public void Dispose() => _entries.Clear();
}
