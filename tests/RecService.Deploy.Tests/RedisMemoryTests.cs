using k8s.Models;

namespace RecService.Deploy.Tests;

/// <summary>
/// Redis holds the shared state (fresh plays, stations, precomputed lists): each deployment bounds it with
/// <c>maxmemory</c> below the container's memory limit and refuses writes when full (<c>noeviction</c>), so Redis is
/// never OOM-killed (losing every station and play) and never evicts state it accepted.
/// </summary>
public class RedisMemoryTests
{
    /// <summary>The value after <paramref name="flag"/> in a redis-server argument list.</summary>
    private static string Flag(IReadOnlyList<string> args, string flag)
    {
        var i = args.ToList().IndexOf(flag);
        Assert.True(i >= 0 && i + 1 < args.Count, $"redis-server is started without {flag}: {string.Join(' ', args)}");
        return args[i + 1];
    }

    /// <summary>A Redis memory size (<c>200mb</c>, <c>1gb</c>, bytes) in bytes, as redis.conf reads it (mb = 1024^2).</summary>
    private static long RedisBytes(string value)
    {
        var v = value.ToLowerInvariant();
        (string Suffix, long Scale)[] units = [("kb", 1L << 10), ("mb", 1L << 20), ("gb", 1L << 30), ("k", 1000), ("m", 1000_000), ("g", 1000_000_000)];
        foreach (var (suffix, scale) in units)
            if (v.EndsWith(suffix, StringComparison.Ordinal)) return long.Parse(v[..^suffix.Length]) * scale;
        return long.Parse(v);
    }

    /// <summary>A compose memory size (<c>256m</c>: binary units, as Docker reads them) in bytes.</summary>
    private static long ComposeBytes(string value)
    {
        var v = value.ToLowerInvariant().TrimEnd('b');
        (string Suffix, long Scale)[] units = [("k", 1L << 10), ("m", 1L << 20), ("g", 1L << 30)];
        foreach (var (suffix, scale) in units)
            if (v.EndsWith(suffix, StringComparison.Ordinal)) return long.Parse(v[..^suffix.Length]) * scale;
        return long.Parse(v);
    }

    private static void AssertBounded(string where, IReadOnlyList<string> args, long limit)
    {
        var maxmemory = RedisBytes(Flag(args, "--maxmemory"));
        Assert.True(maxmemory > 0, $"{where}: maxmemory 0 means unbounded");
        // Headroom for Redis' own overhead (allocator fragmentation, client buffers) past maxmemory.
        Assert.True(maxmemory <= limit * 0.85, $"{where}: maxmemory {maxmemory} bytes leaves too little of the {limit}-byte memory limit");
        Assert.Equal("noeviction", Flag(args, "--maxmemory-policy"));
    }

    [Fact]
    public void Kubernetes_redis_bounds_its_memory_below_the_container_limit_and_refuses_writes_when_full()
    {
        var redis = Manifests.Container(Manifests.Named<V1Deployment>("recservice-redis"));
        var limit = redis.Resources?.Limits?["memory"] ?? throw new KeyNotFoundException("recservice-redis has no memory limit");
        AssertBounded("deploy/k8s/redis.yaml", redis.Args.ToList(), (long)limit.ToDecimal());
    }

    [Fact]
    public void Compose_redis_bounds_its_memory_below_the_container_limit_and_refuses_writes_when_full()
    {
        var redis = Yaml.Load(Repo.Read("docker-compose.yml")).Map("services").Map("redis");
        var limit = redis.Str("mem_limit") ?? throw new KeyNotFoundException("compose redis has no mem_limit");
        var command = redis.Seq("command").Cast<string>().ToList();
        Assert.Equal("redis-server", command[0]);
        AssertBounded("docker-compose.yml", command.Skip(1).ToList(), ComposeBytes(limit));
    }
}
