using System.CommandLine;
using System.Diagnostics;
using RecService.Batch;
using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Als;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec bench precompute`: the Discover precompute's compute alone (no Redis): every user's exact top list in the
/// batches `rec precompute` uses, timed over several passes. Prints users/s, GFLOP/s by the brute-force count
/// (users x tracks x factors multiply-adds) and its share of the FMA peak measured in the same run on the same threads.
/// </summary>
public static class BenchPrecomputeCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory (its CURRENT bundle is used).", DefaultValueFactory = _ => "models" };
        var users = new Option<int>("--users") { Description = "Only the first N users (0 = all).", DefaultValueFactory = _ => 0 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var count = new Option<int>("--count") { Description = "Tracks per user.", DefaultValueFactory = _ => 100 };
        var batch = new Option<int>("--batch") { Description = "Users per compute batch (as rec precompute --batch).", DefaultValueFactory = _ => 4096 };
        var passes = new Option<int>("--passes") { Description = "Timed passes over the users (the median is printed).", DefaultValueFactory = _ => 3 };
        var command = new Command("precompute", "Time the Discover precompute's exact scoring without Redis: users/s, GFLOP/s and the share of the measured FMA peak.")
        {
            models, users, threads, count, batch, passes,
        };
        command.SetAction(parse =>
        {
            using var bundle = CurrentBundle.Open(parse.GetValue(models)!);
            var options = new PrecomputeOptions { Count = parse.GetValue(count), Threads = parse.GetValue(threads), BatchUsers = parse.GetValue(batch) };
            if (options.Count < 1 || options.BatchUsers < 1 || parse.GetValue(passes) < 1)
            {
                Console.Error.WriteLine("rec: error: --count, --batch and --passes must be at least 1.");
                return 2;
            }
            var threadCount = options.Threads > 0 ? options.Threads : Environment.ProcessorCount;
            var userCount = parse.GetValue(users) > 0 ? Math.Min(parse.GetValue(users), bundle.Users.Count) : bundle.Users.Count;
            var lists = new DiscoverLists(bundle, options);
            var k = lists.Length;
            var factors = AlsParts.Of(bundle).Tracks.Factors;
            var ids = new int[options.BatchUsers * k];
            var scores = new float[options.BatchUsers * k];
            var counts = new int[options.BatchUsers];
            var gflop = (double)userCount * bundle.Tracks.Count * factors * 2 / 1e9;
            Console.WriteLine($"model {bundle.Version}: {userCount:N0} users x {bundle.Tracks.Count:N0} tracks, {factors} factors ({gflop:N1} GFLOP brute force); " +
                              $"top {k}, {threadCount} threads, batches of {options.BatchUsers}");

            long scored = 0;
            double Pass(int upTo)
            {
                scored = 0;
                var clock = Stopwatch.StartNew();
                for (var start = 0; start < upTo; start += options.BatchUsers)
                    scored += lists.Compute(start, Math.Min(options.BatchUsers, upTo - start), ids, scores, counts);
                return clock.Elapsed.TotalSeconds;
            }

            Pass(Math.Min(userCount, options.BatchUsers)); // warm-up: compiled and the factors paged in before the clock
            var peakBefore = FmaPeak.Measure(threadCount, TimeSpan.FromSeconds(1));
            var seconds = new double[parse.GetValue(passes)];
            for (var p = 0; p < seconds.Length; p++)
            {
                seconds[p] = Pass(userCount);
                Console.WriteLine($"pass {p + 1}: {seconds[p]:F3} s, {userCount / seconds[p]:N0} users/s, {gflop / seconds[p]:N1} GFLOP/s brute-force equivalent; " +
                                  $"{scored * factors * 2 / 1e9 / seconds[p]:N1} GFLOP/s computed ({(double)scored / ((double)userCount * bundle.Tracks.Count):P1} of the user-track scores, padding included)");
            }
            var peakAfter = FmaPeak.Measure(threadCount, TimeSpan.FromSeconds(1));
            var median = seconds.Order().ElementAt(seconds.Length / 2);
            var peak = Math.Max(peakBefore, peakAfter);
            var computed = (double)scored * factors * 2 / 1e9; // every pass scores the same pairs
            Console.WriteLine($"median {userCount / median:N0} users/s ({userCount / seconds.Max():N0}-{userCount / seconds.Min():N0}), {gflop / median:N1} GFLOP/s brute-force equivalent, " +
                              $"{computed / median:N1} computed; FMA peak on {threadCount} threads {peakBefore:N1} / {peakAfter:N1} GFLOP/s (before / after the passes): " +
                              $"{gflop / median / peak:P1} of it brute-force equivalent, {computed / median / peak:P1} computed");
            return 0;
        });
        return command;
    }
}
