using RecService.Models.Ensemble;
using RecService.Models.Similarity;
using RecService.Models.Tags;
using RecService.Models.Cooccurrence;
using RecService.Models.Word2Vec;
using RecService.Models.Bpr;
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
        var ensemble = new Option<bool>("--ensemble") { Description = "Also the ensemble's parts (BPR, word2vec, co-listening and tag parts, blends), as training publishes them" };
        var command = new Command("bundle", "Publish a synthetic model bundle (ALS-shaped factors) for serving benchmarks.")
        {
            models, tracks, users, artists, factors, played, trees, codedTrees, seed, ensemble,
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
            if (parse.GetValue(ensemble)) content = content with { Parts = [.. content.Parts, .. SyntheticEnsembleParts(nTracks, nArtists, f, parse.GetValue(seed))] };
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

    /// <summary>The ensemble's parts with synthetic content of the shapes training gives them: dense parts over tracks
    /// and artists (a tenth of word2vec's rows zero, as for items no sequence holds), 100 neighbours per artist for the
    /// co-listening and tag parts, a few tags per artist, and both blends over all of them.</summary>
    private static IEnumerable<PartContent> SyntheticEnsembleParts(int nTracks, int nArtists, int f, int seed)
    {
        float[] Vectors(int count, int offset, bool zeroTenth)
        {
            var (v, _) = SyntheticFactors.Generate(new SyntheticFactors.Options(count, f, 0, seed + offset));
            if (zeroTenth)
                for (var i = 0; i < count; i += 10) v.AsSpan(i * f, f).Clear();
            return v;
        }
        var rng = new Xoshiro256((ulong)seed, 0xE45E);
        CsrMatrix Random(int rows, int columns, int perRow)
        {
            var pointers = new int[rows + 1];
            var indices = new int[rows * perRow];
            var values = new float[rows * perRow];
            for (var r = 0; r < rows; r++)
            {
                var row = new SortedSet<int>();
                while (row.Count < Math.Min(perRow, columns - 1)) row.Add(rng.NextInt(columns));
                row.Remove(r);
                var at = pointers[r];
                foreach (var c in row)
                {
                    indices[at] = c;
                    values[at++] = (float)rng.NextDouble();
                }
                pointers[r + 1] = at;
            }
            return new CsrMatrix(rows, columns, pointers, indices[..pointers[rows]], values[..pointers[rows]]);
        }
        var bpr = new BprParameters(f, 8, 0.05f, 0.002f);
        var w2v = new Word2VecParameters(f, 5, 5, 5, 1e-3, "playlists");
        yield return VectorFamily.Content(Models.Ensemble.EnsembleParts.BprTracks, BprFamily.Name, IdSpaces.Tracks, Vectors(nTracks, 11, false), nTracks, f, bpr);
        yield return VectorFamily.Content(Models.Ensemble.EnsembleParts.Word2VecTracks, Word2VecFamily.Name, IdSpaces.Tracks, Vectors(nTracks, 12, true), nTracks, f, w2v);
        yield return VectorFamily.Content(Models.Ensemble.EnsembleParts.BprArtists, BprFamily.Name, IdSpaces.Artists, Vectors(nArtists, 13, false), nArtists, f, bpr);
        yield return VectorFamily.Content(Models.Ensemble.EnsembleParts.Word2VecArtists, Word2VecFamily.Name, IdSpaces.Artists, Vectors(nArtists, 14, true), nArtists, f, w2v);
        yield return new PartContent
        {
            Name = Models.Ensemble.EnsembleParts.CooccurrenceArtists, Family = CooccurrenceFamily.Name, Items = IdSpaces.Artists,
            Sparse = new Dictionary<string, CsrMatrix> { [CooccurrenceFamily.Neighbours] = Random(nArtists, nArtists, 100) },
            Parameters = PartContent.ParametersOf(CooccurrenceParameters.Defaults),
        };
        yield return new PartContent
        {
            Name = Models.Ensemble.EnsembleParts.TagArtists, Family = TagFamily.Name, Items = IdSpaces.Artists,
            Sparse = new Dictionary<string, CsrMatrix> { [TagFamily.Weights] = Random(nArtists, 2000, 8), [TagFamily.Neighbours] = Random(nArtists, nArtists, 100) },
            Parameters = PartContent.ParametersOf(TagParameters.Defaults),
        };
        string[] artistParts = [AlsParts.ArtistsPart, Models.Ensemble.EnsembleParts.BprArtists, Models.Ensemble.EnsembleParts.Word2VecArtists,
            Models.Ensemble.EnsembleParts.CooccurrenceArtists, Models.Ensemble.EnsembleParts.TagArtists];
        string[] trackParts = [AlsParts.TracksPart, Models.Ensemble.EnsembleParts.BprTracks, Models.Ensemble.EnsembleParts.Word2VecTracks];
        IEnumerable<string> Signals(IEnumerable<string> parts) => parts.SelectMany(p => new[] { BlendFeatures.SimilarityOf(p), BlendFeatures.MissingOf(p) });
        var trackFeatures = Signals(trackParts.Concat(artistParts)).Append(BlendFeatures.SameArtist).Append(BlendFeatures.Intercept).ToList();
        var artistFeatures = Signals(artistParts).Append(BlendFeatures.Intercept).ToList();
        float[] Weights(List<string> names) => names.Select(n => n == BlendFeatures.Intercept ? -4f : n.StartsWith("missing:", StringComparison.Ordinal) ? -0.5f : 2f).ToArray();
        yield return BlendFamily.Content(Models.Ensemble.EnsembleParts.BlendTracks, new BlendParameters(IdSpaces.Tracks, 60, 0.01, "synthetic"), trackFeatures, Weights(trackFeatures), new Dictionary<string, double>());
        yield return BlendFamily.Content(Models.Ensemble.EnsembleParts.BlendArtists, new BlendParameters(IdSpaces.Artists, 60, 0.01, "synthetic"), artistFeatures, Weights(artistFeatures), new Dictionary<string, double>());
    }
}
