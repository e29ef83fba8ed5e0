using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Als;
using RecService.Serving;
using RecService.Serving.Models;
using RecService.Serving.Precompute;
using RecService.Serving.Recommendations;
using RecService.Serving.Recommendations.Sources;
using RecService.Serving.State;
using RecService.Serving.Taste;
using RecService.Serving.Telemetry;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec bench recommend`: what one Recommend costs on a bundle without the network, stage by stage, for users
/// taken across the whole user table (u[i * 7919 mod users], as the load script asks): the forest search alone,
/// then the whole list the service builds (search, played exclusions and reasons). One thread, mean µs per call.
/// </summary>
public static class BenchRecommendCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory (its CURRENT bundle is used).", DefaultValueFactory = _ => "models" };
        var iterations = new Option<int>("--iterations") { Description = "Timed calls per stage and pass.", DefaultValueFactory = _ => 20_000 };
        var count = new Option<int>("--count") { Description = "Tracks per list.", DefaultValueFactory = _ => 10 };
        var passes = new Option<int>("--passes") { Description = "Passes over the stages (the median is printed).", DefaultValueFactory = _ => 5 };
        var command = new Command("recommend", "Time Recommend's stages in process (search, then the full list with reasons) over varied users.")
        {
            models, iterations, count, passes,
        };
        command.SetAction(async parse =>
        {
            using var holder = new ModelHolder();
            var bundle = CurrentBundle.Open(parse.GetValue(models)!);
            holder.Swap(bundle);
            var options = Options.Create(new ServingOptions());
            using var metrics = new ServingMetrics(holder);
            using var redis = new RedisLink(options, metrics, NullLogger<RedisLink>.Instance);
            using var fresh = new FreshPlayStore(redis, options, metrics);
            var engine = new RecommendationEngine(options);
            ICandidateSource[] sources = [new RealtimeSource(engine), new PrecomputedSource(), new ModelSource(engine), new PopularSource(engine)];
            var users = new UserRecommendations(sources, new RecommendationReasons(), fresh, new PrecomputedLists(redis), metrics);
            var k = parse.GetValue(count);
            var runs = parse.GetValue(iterations);
            var userCount = bundle.Users.Count;
            var ids = new int[k];
            var scores = new float[k];
            var userIds = Enumerable.Range(0, Math.Min(userCount, 100_000)).Select(i => bundle.Users[(int)((long)i * 7919 % userCount)]).ToArray();
            Console.WriteLine($"model {bundle.Version}: {bundle.Tracks.Count:N0} tracks x {AlsParts.Of(bundle).Tracks.Factors}, {userCount:N0} users; top {k}, {runs:N0} calls per stage");

            async Task<double> Stage(int stage)
            {
                var start = Stopwatch.GetTimestamp();
                for (var i = 0; i < runs; i++)
                {
                    var id = userIds[i % userIds.Length];
                    if (stage == 0)
                    {
                        var user = bundle.Users.IndexOf(id);
                        engine.Recommend(bundle, user, true, default, ids, scores);
                    }
                    else
                    {
                        using var list = await users.ForUserAsync(bundle, id, k, true, default);
                    }
                }
                return Stopwatch.GetElapsedTime(start).TotalMicroseconds / runs;
            }
            string[] names = ["search (user lookup + forest, played excluded)", "list (search + reasons)"];
            var results = names.Select(_ => new List<double>()).ToArray();
            for (var s = 0; s < names.Length; s++) await Stage(s); // warm-up
            for (var p = 0; p < parse.GetValue(passes); p++)
                for (var s = 0; s < names.Length; s++) results[s].Add(await Stage(s));
            for (var s = 0; s < names.Length; s++)
            {
                var sorted = results[s].Order().ToArray();
                Console.WriteLine($"{names[s],-48} {sorted[sorted.Length / 2],7:F2} us/call median  ({sorted[0]:F2} best)");
            }
            return 0;
        });
        return command;
    }
}
