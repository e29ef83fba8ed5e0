using System.Diagnostics;
using StackExchange.Redis;

namespace RecService.Serving.Tests;

/// <summary>A real redis-server on a free loopback port, without persistence, stopped on dispose.</summary>
public sealed class RedisServer : IAsyncDisposable
{
    private readonly Process _process;

    private RedisServer(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public int Port { get; }
    public string Configuration => $"127.0.0.1:{Port}";

    /// <summary>SIGSTOP: the server keeps its socket (connections stay open, the kernel still accepts new ones) but answers nothing.</summary>
    public void Pause() => Signal(19);

    /// <summary>SIGCONT after <see cref="Pause"/>.</summary>
    public void Resume() => Signal(18);

    /// <summary>SIGKILL: gone at once, without closing anything cleanly.</summary>
    public async Task KillAsync()
    {
        Signal(9);
        await _process.WaitForExitAsync();
    }

    private void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int sig);

    /// <summary>Starts redis-server on <paramref name="port"/> (a free one when null: give the old port to restart a stopped server).</summary>
    public static async Task<RedisServer> StartAsync(int? port = null)
    {
        var chosen = port ?? Replica.FreePort();
        var start = new ProcessStartInfo("redis-server", $"--port {chosen} --bind 127.0.0.1 --save \"\" --appendonly no")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
        }
        catch (System.ComponentModel.Win32Exception ex)
        {
            throw new InvalidOperationException("redis-server is not installed (apt-get install -y redis-server; .ci/run does this).", ex);
        }
        var server = new RedisServer(process, chosen);
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                await using var probe = await ConnectionMultiplexer.ConnectAsync($"{server.Configuration},connectTimeout=200");
                await probe.GetDatabase().PingAsync();
                return server;
            }
            catch (RedisConnectionException)
            {
                await Task.Delay(50);
            }
        }
        await server.DisposeAsync();
        throw new TimeoutException("redis-server did not answer PING.");
    }

    private bool _disposed;

    public async ValueTask DisposeAsync()
    {
        if (_disposed) return;
        _disposed = true;
        if (!_process.HasExited)
        {
            _process.Kill();
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}

public sealed class RedisNoticeTests
{
    [Fact]
    public async Task A_redis_notice_swaps_at_once_even_with_slow_polling()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var store = new BundleStoreForTests(models.Path);
        var v1 = store.PublishWorld(1);
        // Poll only every 10 minutes: only the notice can explain a quick swap.
        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMinutes(10), redis: redis.Configuration);
        await replica.WaitForVersionAsync(v1);

        var v2 = store.PublishWorld(2);
        await using var publisher = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        // The subscription is made as the watcher starts; repeat the notice until it is heard.
        var swapped = false;
        for (var i = 0; i < 50 && !swapped; i++)
        {
            await publisher.GetSubscriber().PublishAsync(RedisChannel.Literal("recservice:models"), v2);
            await Task.Delay(100);
            swapped = (await replica.Client.GetModelInfoAsync(new Api.V1.GetModelInfoRequest())).ModelVersion == v2;
        }
        Assert.True(swapped, "the replica did not swap on the Redis notice");
    }

    private sealed class BundleStoreForTests(string root)
    {
        private readonly Core.Bundle.BundleStore _store = new(root);
        public string PublishWorld(ulong seed) => new TestWorld(seed, users: 50, tracks: 300, clusters: 5).Publish(_store).ModelVersion;
    }
}
