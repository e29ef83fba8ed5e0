using System.CommandLine;
using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Als;
using RecService.Batch;
using RecService.Redis;
using StackExchange.Redis;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec precompute`: every user's Discover list for the current model, computed in parallel batches (exact or forest)
/// and written to Redis pipelined with the model version; replicas serve a list while it matches their model.
/// Prints users per second.
/// </summary>
public static class PrecomputeCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory (its CURRENT bundle is used).", DefaultValueFactory = _ => "models" };
        var redis = new Option<string>("--redis") { Description = "StackExchange.Redis configuration, e.g. 127.0.0.1:6379.", Required = true };
        var count = new Option<int>("--count") { Description = "Tracks per user.", DefaultValueFactory = _ => 100 };
        var forest = new Option<bool>("--forest") { Description = "Use the dot forest instead of exact scoring over every track." };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var batch = new Option<int>("--batch") { Description = "Users per compute batch and Redis pipeline.", DefaultValueFactory = _ => 4096 };
        var users = new Option<int>("--users") { Description = "Only the first N users (0 = all).", DefaultValueFactory = _ => 0 };
        var prefix = new Option<string>("--prefix") { Description = "Redis key prefix (the replicas' Serving:Redis:KeyPrefix).", DefaultValueFactory = _ => RedisKeys.DefaultPrefix };
        var ttl = new Option<double>("--ttl-hours") { Description = "Lists expire after this many hours.", DefaultValueFactory = _ => 192 };

        var command = new Command("precompute", "Compute every user's top tracks for the current model and store them in Redis.")
        {
            models, redis, count, forest, threads, batch, users, prefix, ttl,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var bundle = CurrentBundle.Open(parse.GetValue(models)!);
            var endpoint = parse.GetValue(redis)!;
            ConnectionMultiplexer connection;
            try
            {
                connection = await RedisConnections.ConnectAsync(endpoint, RedisRole.Precompute, TimeSpan.FromSeconds(30));
            }
            catch (RedisConnectionException ex)
            {
                return Failed($"cannot reach Redis at {endpoint} within {RedisConnections.PrecomputeConnectTimeout.TotalSeconds:F0} s", ex);
            }
            await using var _ = connection;
            var options = new PrecomputeOptions
            {
                Count = parse.GetValue(count),
                Exact = !parse.GetValue(forest),
                Threads = parse.GetValue(threads),
                BatchUsers = parse.GetValue(batch),
                MaxUsers = parse.GetValue(users),
                KeyPrefix = parse.GetValue(prefix)!,
                Ttl = TimeSpan.FromHours(parse.GetValue(ttl)),
            };
            Console.WriteLine($"model {bundle.Version}: {bundle.Users.Count:N0} users x {bundle.Tracks.Count:N0} tracks, {AlsParts.Of(bundle).Tracks.Factors} factors; " +
                              $"top {options.Count} per user, {(options.Exact ? "exact" : "forest")}, {(options.Threads > 0 ? options.Threads : Environment.ProcessorCount)} threads, batches of {options.BatchUsers}");
            PrecomputeReport report;
            try
            {
                report = await DiscoverPrecompute.RunAsync(bundle, connection.GetDatabase(), options, Console.WriteLine, ct);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                return Failed($"writing to Redis at {endpoint} failed; lists already written stay valid for model {bundle.Version}", ex);
            }
            Console.WriteLine($"precomputed {report.Users:N0} users in {report.TotalSeconds:F2} s: {report.UsersPerSecond:N0} users/s overall " +
                              $"(compute {report.ComputeSeconds:F2} s = {report.ComputeUsersPerSecond:N0} users/s; waiting on Redis {report.WriteWaitSeconds:F2} s; {report.Bytes / 1e6:F1} MB written)");
            return 0;
        });
        return command;
    }

    /// <summary>A Redis failure: one line on stderr and exit code 1 (the run failed; the arguments were fine).</summary>
    private static int Failed(string what, Exception ex)
    {
        Console.Error.WriteLine($"rec: error: {what}: {ex.Message.Split('\n')[0].Trim()}");
        return 1;
    }
}
