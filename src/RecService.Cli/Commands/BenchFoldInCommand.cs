using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Als;
using RecService.Core.Sampling;
using RecService.Serving;
using RecService.Serving.Recommendations;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec bench foldin`: times real-time taste on a bundle: one exact ALS half-step for a user with N random plays
/// (what Recommend does after RecordPlays), alone and followed by the forest search, and prints mean/p50/p99.
/// </summary>
public static class BenchFoldInCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory (its CURRENT bundle is used).", DefaultValueFactory = _ => "models" };
        var plays = new Option<int>("--plays") { Description = "Distinct tracks played by the simulated user.", DefaultValueFactory = _ => 100 };
        var iterations = new Option<int>("--iterations") { Description = "Timed fold-ins.", DefaultValueFactory = _ => 20_000 };
        var count = new Option<int>("--count") { Description = "Recommendations searched after each fold-in.", DefaultValueFactory = _ => 10 };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 5 };
        var command = new Command("foldin", "Time the fold-in of a user's vector from fresh plays (real-time taste).") { models, plays, iterations, count, seed };
        command.SetAction(parse =>
        {
            using var bundle = CurrentBundle.Open(parse.GetValue(models)!);
            var n = Math.Min(parse.GetValue(plays), bundle.Tracks.Count);
            var runs = parse.GetValue(iterations);
            var k = parse.GetValue(count);
            var tracks = AlsParts.Of(bundle).Tracks;
            var engine = new RecommendationEngine(Options.Create(new ServingOptions()));
            var rng = new Xoshiro256(parse.GetValue(seed));
            const int Sets = 64;
            var trackSets = new int[Sets][];
            var playSets = new float[Sets][];
            for (var s = 0; s < Sets; s++)
            {
                var chosen = new HashSet<int>();
                while (chosen.Count < n) chosen.Add(rng.NextInt(bundle.Tracks.Count));
                trackSets[s] = [.. chosen.Order()];
                playSets[s] = trackSets[s].Select(_ => (float)(1 + rng.NextInt(20))).ToArray();
            }
            var x = new float[tracks.Factors];
            var ids = new int[k];
            var scores = new float[k];
            var p = tracks.Parameters;
            Console.WriteLine($"model {bundle.Version}: {bundle.Tracks.Count:N0} tracks, {tracks.Factors} factors, alpha {p.Alpha}, lambda {p.Regularization}, {p.Scaling} confidence; {n} plays per user, {runs:N0} runs");

            double[] Time(bool search)
            {
                var ms = new double[runs];
                for (var i = -Math.Min(1000, runs); i < runs; i++) // negative i: warm-up
                {
                    var s = (i & int.MaxValue) % Sets;
                    var start = Stopwatch.GetTimestamp();
                    if (!tracks.FoldIn(trackSets[s], playSets[s], x)) throw new InvalidOperationException("fold-in failed");
                    if (search) engine.RecommendFor(bundle, x, trackSets[s], default, ids, scores);
                    if (i >= 0) ms[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
                Array.Sort(ms);
                return ms;
            }
            foreach (var (label, search) in new[] { ("fold-in", false), ($"fold-in + top-{k} search", true) })
            {
                var ms = Time(search);
                Console.WriteLine($"{label,-24} mean {ms.Average() * 1000,7:F1} us  p50 {ms[ms.Length / 2] * 1000,7:F1} us  p99 {ms[(int)(ms.Length * 0.99)] * 1000,7:F1} us  ({1000 / ms.Average():N0}/s on one thread)");
            }
            return 0;
        });
        return command;
    }
}
