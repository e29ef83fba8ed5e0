using System.Buffers;
using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Vectors;
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
/// computing while the previous one is written. Exact mode scores users in blocks of eight per pass over the track
/// factors, so each track row is loaded once per block instead of once per user.
/// </summary>
public static class DiscoverPrecompute
{
    private const int Block = 8;

    public static async Task<PrecomputeReport> RunAsync(ModelBundle bundle, IDatabase redis, PrecomputeOptions options, Action<string>? progress = null, CancellationToken ct = default)
    {
        if (options.Count is < 1 or > PrecomputedList.MaxTracks) throw new ArgumentOutOfRangeException(nameof(options), $"Count must be in 1..{PrecomputedList.MaxTracks}.");
        var users = options.MaxUsers > 0 ? Math.Min(options.MaxUsers, bundle.Users.Count) : bundle.Users.Count;
        var k = Math.Min(options.Count, bundle.Tracks.Count);
        var batchSize = Math.Max(Block, options.BatchUsers / Block * Block);
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
            ComputeBatch(bundle, start, n, k, options, ids, scores, counts, ct);
            var values = new (RedisKey, RedisValue)[n];
            for (var i = 0; i < n; i++)
            {
                var list = PrecomputedList.Encode(bundle.Version, ids.AsSpan(i * k, counts[i]), scores.AsSpan(i * k, counts[i]));
                bytes += list.Length;
                values[i] = (keys.PrecomputedList(bundle.Users[start + i]), list);
            }
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

    /// <summary>
    /// The lists of users <paramref name="firstUser"/>.. (<paramref name="count"/> of them), computed in parallel without
    /// writing them: user i's best <paramref name="k"/> tracks (played ones left out) best first at
    /// <c>ids[(i * k)..]</c> and <c>scores[(i * k)..]</c>, how many in <c>counts[i]</c>. What <see cref="RunAsync"/>
    /// computes per batch and what `rec bench precompute` times.
    /// </summary>
    public static void ComputeBatch(ModelBundle bundle, int firstUser, int count, int k, PrecomputeOptions options, int[] ids, float[] scores, int[] counts, CancellationToken ct = default)
    {
        if (k < 1 || k > bundle.Tracks.Count) throw new ArgumentOutOfRangeException(nameof(k));
        if (ids.Length < (long)count * k || scores.Length < (long)count * k || counts.Length < count) throw new ArgumentException("The result arrays are shorter than count x k.");
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount, CancellationToken = ct };
        var model = AlsParts.Of(bundle).Tracks;
        var searchK = (options.SearchK > 0 ? options.SearchK : model.DotForest.DefaultOptions.SearchK) * Math.Max(10, k) / 10;
        var blocks = (count + Block - 1) / Block;
        Parallel.For(0, blocks, parallel, () => new float[Block * bundle.Tracks.Count], (b, _, scratch) =>
        {
            var first = b * Block;
            var size = Math.Min(Block, count - first);
            if (options.Exact) ScoreBlockExact(bundle, firstUser + first, size, k, scratch, ids.AsSpan(first * k), scores.AsSpan(first * k), counts.AsSpan(first));
            else
            {
                for (var i = 0; i < size; i++)
                {
                    var user = firstUser + first + i;
                    counts[first + i] = model.DotForest.Search(model.UserFactors.Row(user), k, ids.AsSpan((first + i) * k, k),
                        scores.AsSpan((first + i) * k, k), searchK, bundle.Played.RowIndices(user));
                }
            }
            return scratch;
        }, _ => { });
    }

    /// <summary>
    /// Eight users against every track: each track row is loaded once (8 floats at a time) and multiplied into eight
    /// register accumulators, one per user, whose queries stay in L1.
    /// </summary>
    private static unsafe void ScoreFullBlock(ReadOnlySpan<float> all, float[] queries, int tracks, int f, float[] scratch)
    {
        fixed (float* yBase = all)
        fixed (float* q = queries)
        fixed (float* output = scratch)
        {
            for (var t = 0; t < tracks; t++)
            {
                var y = yBase + (long)t * f;
                Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
                for (var c = 0; c < f; c += 8)
                {
                    var v = Vector256.Load(y + c);
                    a0 += v * Vector256.Load(q + c);
                    a1 += v * Vector256.Load(q + f + c);
                    a2 += v * Vector256.Load(q + 2 * f + c);
                    a3 += v * Vector256.Load(q + 3 * f + c);
                    a4 += v * Vector256.Load(q + 4 * f + c);
                    a5 += v * Vector256.Load(q + 5 * f + c);
                    a6 += v * Vector256.Load(q + 6 * f + c);
                    a7 += v * Vector256.Load(q + 7 * f + c);
                }
                output[t] = Vector256.Sum(a0);
                output[tracks + t] = Vector256.Sum(a1);
                output[2 * tracks + t] = Vector256.Sum(a2);
                output[3 * tracks + t] = Vector256.Sum(a3);
                output[4 * tracks + t] = Vector256.Sum(a4);
                output[5 * tracks + t] = Vector256.Sum(a5);
                output[6 * tracks + t] = Vector256.Sum(a6);
                output[7 * tracks + t] = Vector256.Sum(a7);
            }
        }
    }

    private static Task Write(IDatabase redis, (RedisKey Key, RedisValue Value)[] values, TimeSpan ttl)
    {
        var batch = redis.CreateBatch();
        var writes = new Task[values.Length];
        for (var i = 0; i < values.Length; i++) writes[i] = batch.StringSetAsync(values[i].Key, values[i].Value, ttl);
        batch.Execute();
        return Task.WhenAll(writes);
    }

    /// <summary>
    /// Exact top-k for up to eight consecutive users: scores every track against the block (one pass over the track
    /// factors), then masks each user's played tracks and keeps the best k.
    /// </summary>
    internal static void ScoreBlockExact(ModelBundle bundle, int firstUser, int size, int k, float[] scratch, Span<int> ids, Span<float> scores, Span<int> counts)
    {
        var tracks = bundle.Tracks.Count;
        var model = AlsParts.Of(bundle).Tracks;
        var f = model.Factors;
        var queries = ArrayPool<float>.Shared.Rent(Block * f);
        try
        {
            for (var i = 0; i < size; i++) model.UserFactors.Row(firstUser + i).CopyTo(queries.AsSpan(i * f, f));
            var all = model.AllItemFactors;
            if (size == Block && f % Vector256<float>.Count == 0 && Vector256.IsHardwareAccelerated) ScoreFullBlock(all, queries, tracks, f, scratch);
            else
            {
                for (var t = 0; t < tracks; t++)
                {
                    var y = all.Slice(t * f, f);
                    for (var i = 0; i < size; i++) scratch[i * tracks + t] = TensorPrimitives.Dot(queries.AsSpan(i * f, f), y);
                }
            }
            for (var i = 0; i < size; i++)
            {
                var row = scratch.AsSpan(i * tracks, tracks);
                foreach (var played in bundle.Played.RowIndices(firstUser + i)) row[played] = float.NegativeInfinity;
                var top = new TopK(scores.Slice(i * k, k), ids.Slice(i * k, k));
                for (var t = 0; t < tracks; t++)
                {
                    var s = row[t];
                    if (s > top.Threshold && s != float.NegativeInfinity) top.Add(s, t);
                }
                counts[i] = top.SortDescending();
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(queries);
        }
    }
}
