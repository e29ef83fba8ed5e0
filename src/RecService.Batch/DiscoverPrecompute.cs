using System.Diagnostics;
using RecService.Core.Bundle;
using RecService.Redis;
using StackExchange.Redis;

namespace RecService.Batch;

/// <summary>How `rec precompute` computes and stores the lists.</summary>
public sealed record PrecomputeOptions
{
    /// <summary>Tracks per user (enough that Recommend can still fill its count after request exclusions).</summary>
    public int Count { get; init; } = 100;
    /// <summary>Exact inner product over every track (true), or the dot forest (false).</summary>
    public bool Exact { get; init; } = true;
    /// <summary>Worker threads; 0 = every core.</summary>
    public int Threads { get; init; }
    /// <summary>Users computed, then written to Redis in one pipeline, per batch.</summary>
    public int BatchUsers { get; init; } = 4096;
    /// <summary>Only the first this many users (0 = all): quick runs.</summary>
    public int MaxUsers { get; init; }
    /// <summary>Forest candidates per 10 results (0 = the index's default); forest mode only.</summary>
    public int SearchK { get; init; }
    /// <summary>Prefix of the keys written (the replicas' Serving:Redis:KeyPrefix).</summary>
    public string KeyPrefix { get; init; } = RedisKeys.DefaultPrefix;
    /// <summary>Lists expire after this long (a newer model's run replaces them sooner).</summary>
    public TimeSpan Ttl { get; init; } = TimeSpan.FromDays(8);
}

/// <summary>What a run did and how fast.</summary>
public sealed record PrecomputeReport(int Users, int Count, bool Exact, double ComputeSeconds, double WriteWaitSeconds, double TotalSeconds, long Bytes)
{
    public double UsersPerSecond => Users / TotalSeconds;
    public double ComputeUsersPerSecond => Users / ComputeSeconds;
}

/// <summary>
/// Discover precompute: every user's top tracks (excluding what they played) computed in batches, in parallel, and
/// written to Redis with the model version (<see cref="PrecomputedList"/>) in one pipeline per batch, the next batch
/// computing while the previous one is written (<see cref="DiscoverLists"/> computes them).
/// </summary>
public static class DiscoverPrecompute
{
    public static async Task<PrecomputeReport> RunAsync(ModelBundle bundle, IDatabase redis, PrecomputeOptions options, Action<string>? progress = null, CancellationToken ct = default)
    {
        if (options.Count is < 1 or > PrecomputedList.MaxTracks) throw new ArgumentOutOfRangeException(nameof(options), $"Count must be in 1..{PrecomputedList.MaxTracks}.");
        var users = options.MaxUsers > 0 ? Math.Min(options.MaxUsers, bundle.Users.Count) : bundle.Users.Count;
        var lists = new DiscoverLists(bundle, options);
        var k = lists.Length;
        var batchSize = Math.Max(1, options.BatchUsers);
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount, CancellationToken = ct };
        var ids = new int[batchSize * k];
        var scores = new float[batchSize * k];
        var counts = new int[batchSize];
        var total = Stopwatch.StartNew();
        var compute = new Stopwatch();
        var wait = new Stopwatch();
        long bytes = 0;
        var keys = new RedisKeys(options.KeyPrefix);
        Task pending = Task.CompletedTask;

        for (var start = 0; start < users; start += batchSize)
        {
            var n = Math.Min(batchSize, users - start);
            compute.Start();
            lists.Compute(start, n, ids, scores, counts, ct);
            var values = new (RedisKey, RedisValue)[n];
            var first = start;
            // Encoded on every thread too: with the exact kernel, one thread encoding a batch took a fair share of it.
            Parallel.For(0, n, parallel, i =>
            {
                var list = PrecomputedList.Encode(bundle.Version, ids.AsSpan(i * k, counts[i]), scores.AsSpan(i * k, counts[i]));
                values[i] = (keys.PrecomputedList(bundle.Users[first + i]), list);
                Interlocked.Add(ref bytes, list.Length);
            });
            compute.Stop();

            wait.Start();
            await pending; // at most one batch in flight: bounded memory, and errors surface one batch late at most
            wait.Stop();
            pending = Write(redis, values, options.Ttl);
            progress?.Invoke($"{start + n:N0} / {users:N0} users, {(start + n) / total.Elapsed.TotalSeconds:N0} users/s");
        }
        wait.Start();
        await pending;
        wait.Stop();
        total.Stop();
        return new PrecomputeReport(users, k, options.Exact, compute.Elapsed.TotalSeconds, wait.Elapsed.TotalSeconds, total.Elapsed.TotalSeconds, bytes);
    }

    private static Task Write(IDatabase redis, (RedisKey Key, RedisValue Value)[] values, TimeSpan ttl)
    {
        var batch = redis.CreateBatch();
        var writes = new Task[values.Length];
        for (var i = 0; i < values.Length; i++) writes[i] = batch.StringSetAsync(values[i].Key, values[i].Value, ttl);
        batch.Execute();
        return Task.WhenAll(writes);
    }
}
