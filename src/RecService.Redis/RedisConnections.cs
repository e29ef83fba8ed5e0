using StackExchange.Redis;

namespace RecService.Redis;

/// <summary>Who a connection is for: each role gets its own client name and the settings its use needs.</summary>
public enum RedisRole
{
    /// <summary>A replica's shared state, on the request path: short timeouts, fail fast while disconnected.</summary>
    ReplicaState,
    /// <summary>A replica's subscription to new-model notices: waits out outages (polling covers them).</summary>
    ReplicaNotices,
    /// <summary>The worker's new-model notice.</summary>
    Worker,
    /// <summary>`rec precompute`: a batch job, which fails at once when Redis cannot be reached.</summary>
    Precompute,
}

/// <summary>The one place Redis connections are configured and made, for every role.</summary>
public static class RedisConnections
{
    /// <summary>How long `rec precompute` tries to reach Redis before it stops (its per-call timeout is longer: a
    /// pipelined batch is big).</summary>
    public static readonly TimeSpan PrecomputeConnectTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Settings for <paramref name="endpoint"/> (a StackExchange.Redis configuration string) in <paramref name="role"/>.
    /// <paramref name="timeout"/> bounds one call for the replica's state and the precompute, and connecting for the
    /// worker; the precompute connects within <see cref="PrecomputeConnectTimeout"/>; notices keep the library's
    /// defaults. A client name given in the string is kept.
    /// </summary>
    public static ConfigurationOptions Settings(string endpoint, RedisRole role, TimeSpan timeout)
    {
        var config = ConfigurationOptions.Parse(endpoint);
        config.ClientName ??= role switch
        {
            RedisRole.ReplicaState => "recservice-replica",
            RedisRole.ReplicaNotices => "recservice-replica-notices",
            RedisRole.Worker => "recservice-worker",
            _ => "recservice-precompute",
        };
        // Keep connecting in the background; the batch job alone would rather stop than write into nothing.
        config.AbortOnConnectFail = role == RedisRole.Precompute;
        switch (role)
        {
            case RedisRole.ReplicaState or RedisRole.Precompute:
                var ms = (int)Math.Clamp(timeout.TotalMilliseconds, 10, 60_000);
                config.ConnectTimeout = Math.Max(ms * 4, 1000);
                config.SyncTimeout = ms;
                config.AsyncTimeout = ms;
                config.BacklogPolicy = BacklogPolicy.FailFast; // while disconnected, fail now rather than queue until the timeout
                config.ReconnectRetryPolicy = new LinearRetry(250);
                config.ConnectRetry = 1;
                if (role == RedisRole.Precompute) config.ConnectTimeout = (int)PrecomputeConnectTimeout.TotalMilliseconds;
                break;
            case RedisRole.Worker:
                config.ConnectTimeout = (int)Math.Clamp(timeout.TotalMilliseconds, 10, 60_000);
                break;
        }
        return config;
    }

    public static Task<ConnectionMultiplexer> ConnectAsync(string endpoint, RedisRole role, TimeSpan timeout) =>
        ConnectionMultiplexer.ConnectAsync(Settings(endpoint, role, timeout));
}
