using Microsoft.Extensions.Caching.Memory;

namespace RecService.Serving.State;

/// <summary>
/// In-process keyed state with a size cap and sliding expiry: the whole store when Redis is not configured, and the
/// fallback while it is unreachable. Each replica has its own, so it is never shared.
/// </summary>
public sealed class LocalState<T>(int limit, TimeSpan ttl) : IDisposable where T : class
{
    private readonly MemoryCache _cache = new(new MemoryCacheOptions { SizeLimit = limit });

    public T? Get(string key) => _cache.TryGetValue(key, out T? value) ? value : null;

    public T GetOrAdd(string key, Func<T> create) =>
        _cache.GetOrCreate(key, entry =>
        {
            entry.Size = 1;
            entry.SlidingExpiration = ttl;
            return create();
        })!;

    public void Set(string key, T value) => _cache.Set(key, value, new MemoryCacheEntryOptions { Size = 1, SlidingExpiration = ttl });

    public void Remove(string key) => _cache.Remove(key);

    public void Dispose() => _cache.Dispose();
}
