using System.CommandLine;
using System.Diagnostics;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Core.Vectors;
using RecService.Models.Als;
using RecService.Synthetic;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec bench bundle</c>: publishes a synthetic bundle of any size (e.g. 1M tracks x 64 factors) with
/// ALS-shaped factors, for load benchmarks and start-up timing without a day of training.
/// </summary>
public static class BenchBundleCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory to publish into", Required = true };
        var tracks = new Option<int>("--tracks") { Description = "Tracks", DefaultValueFactory = _ => 1_000_000 };
        var users = new Option<int>("--users") { Description = "Users", DefaultValueFactory = _ => 100_000 };
        var artists = new Option<int>("--artists") { Description = "Artists", DefaultValueFactory = _ => 20_000 };
        var factors = new Option<int>("--factors") { Description = "Factors", DefaultValueFactory = _ => 64 };
        var played = new Option<int>("--played") { Description = "Played tracks per user", DefaultValueFactory = _ => 30 };
        var trees = new Option<int>("--trees") { Description = "Trees per forest", DefaultValueFactory = _ => new BundleForestOptions().TrackTrees };
        var codedTrees = IndexCommand.CodedTreesOption();
        var seed = new Option<int>("--seed") { Description = "Seed", DefaultValueFactory = _ => 1 };
        var command = new Command("bundle", "Publish a synthetic model bundle (ALS-shaped factors) for serving benchmarks.")
        {
            models, tracks, users, artists, factors, played, trees, codedTrees, seed,
        };
        command.SetAction(parse =>
        {
            var clock = Stopwatch.StartNew();
            int nTracks = parse.GetValue(tracks), nUsers = parse.GetValue(users), nArtists = parse.GetValue(artists), f = parse.GetValue(factors);
            var (trackVectors, userVectors) = SyntheticFactors.Generate(new SyntheticFactors.Options(nTracks, f, nUsers, parse.GetValue(seed)));
            var (artistVectors, _) = SyntheticFactors.Generate(new SyntheticFactors.Options(nArtists, f, 0, parse.GetValue(seed) + 1));
            var rng = new Xoshiro256((ulong)parse.GetValue(seed));
            var perUser = parse.GetValue(played);
            var rows = new int[nUsers * perUser];
            var cols = new int[rows.Length];
            var vals = new float[rows.Length];
            for (var i = 0; i < rows.Length; i++)
            {
                rows[i] = i / perUser;
                cols[i] = rng.NextInt(nTracks);
                vals[i] = 1 + rng.NextInt(10);
            }
            var parameters = AlsParameters.Defaults with { Factors = f };
            var content = new BundleContent
            {
                UserIds = Enumerable.Range(0, nUsers).Select(u => $"u{u}").ToList(),
                TrackIds = Enumerable.Range(0, nTracks).Select(t => $"t{t}").ToList(),
                ArtistIds = Enumerable.Range(0, nArtists).Select(a => $"a{a}").ToList(),
                Played = CsrMatrix.FromTriples(nUsers, nTracks, rows, cols, vals),
                TrackArtist = Enumerable.Range(0, nTracks).Select(t => t % nArtists).ToList(),
                TrackTitles = Enumerable.Range(0, nTracks).Select(t => $"Track {t}").ToList(),
                ArtistNames = Enumerable.Range(0, nArtists).Select(a => $"Artist {a}").ToList(),
                Parts =
                [
                    AlsFamily.Content(AlsParts.TracksPart, IdSpaces.Users, IdSpaces.Tracks, parameters, trackVectors, nTracks, userVectors, nUsers, [Metric.Dot, Metric.Cosine]),
                    AlsFamily.Content(AlsParts.ArtistsPart, IdSpaces.Users, IdSpaces.Artists, parameters, artistVectors, nArtists, null, 0, [Metric.Cosine]),
                ],
            };
            Console.WriteLine($"Synthesized {nUsers:N0} users, {nTracks:N0} tracks, {nArtists:N0} artists x {f} factors in {clock.Elapsed.TotalSeconds:F1} s");
            clock.Restart();
            var store = new BundleStore(parse.GetValue(models)!);
            var t = parse.GetValue(trees);
            var manifest = store.Publish(new BundleManifest { Training = { ["source"] = "rec bench bundle (synthetic)" } },
                content, new BundleForestOptions { TrackTrees = t, ArtistTrees = t, CodedTrees = parse.GetValue(codedTrees) });
            Console.WriteLine($"Published {manifest.ModelVersion} in {clock.Elapsed.TotalSeconds:F1} s to {store.Root}:");
            foreach (var file in manifest.Files) Console.WriteLine($"  {file.Name,-24} {file.Bytes / 1e6,10:F1} MB");
            Console.WriteLine($"  {"total",-24} {manifest.Files.Sum(x => x.Bytes) / 1e6,10:F1} MB");
            return 0;
        });
        return command;
    }
}
