using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Ensemble;
using RecService.Models.Similarity;
using RecService.Synthetic;
using RecService.Training.Als;
using RecService.Training.Pipeline;

namespace RecService.Training.Tests;

/// <summary>
/// The whole ensemble from a generated world (plays, playlists, tags) through the real training job and publisher: every
/// part and both blends in the bundle, the blend's weights read back from it, the same weights for the same seed, and
/// on the world's genre ground truth (which training never reads) the blend ahead of ALS alone.
/// </summary>
public sealed class EnsembleTrainingTests : IDisposable
{
    private readonly string _root = Path.Combine(Path.GetTempPath(), "recservice-tests", "ensemble-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    private static readonly SampleWorldOptions World = new() { Users = 1500, Artists = 160, Tracks = 1200, Days = 2, Genres = 6, Seed = 9 };

    private async Task<(TrainingResult Result, BundleManifest Manifest, string Directory)> TrainAsync(string name)
    {
        var world = SampleWorldGenerator.Generate(World, Path.Combine(_root, "world"));
        var als = new AlsOptions { Factors = 16, Iterations = 6, Threads = 1 };
        var job = new TrainingJob(new TrainingJobOptions
        {
            SnapshotsDirectory = world.SnapshotsDirectory,
            CatalogDirectory = world.CatalogDirectory,
            Tracks = als,
            Artists = als,
            // One thread everywhere: Hogwild updates (BPR, word2vec) would differ in the last bits between runs.
            Ensemble = new EnsembleOptions { Threads = 1, Word2VecMinTokens = 200_000, Word2Vec = new() { Dimensions = 16 }, Bpr = new() { Factors = 16, Epochs = 8 }, BprMinSteps = 0 },
            Forests = new BundleForestOptions { TrackTrees = 4, ArtistTrees = 4, Threads = 1 },
        });
        var result = await job.RunAsync();
        var store = new BundleStore(Path.Combine(_root, name));
        var manifest = job.Publish(result, store);
        return (result, manifest, store.PathOf(manifest.ModelVersion));
    }

    [Fact]
    public async Task A_generated_world_trains_every_part_and_a_blend_that_loads_from_the_bundle_and_beats_als_on_genre()
    {
        var (result, manifest, directory) = await TrainAsync("models");
        Assert.Equal(
            ["artists", EnsembleParts.BlendArtists, EnsembleParts.BlendTracks, EnsembleParts.BprArtists, EnsembleParts.BprTracks, EnsembleParts.CooccurrenceArtists,
                EnsembleParts.TagArtists, "tracks", EnsembleParts.Word2VecArtists, EnsembleParts.Word2VecTracks],
            manifest.Parts.Select(p => p.Name).Order());

        using var bundle = ModelBundle.Open(directory, families: KnownFamilies.All);
        foreach (var space in new[] { IdSpaces.Tracks, IdSpaces.Artists })
        {
            var ranker = EnsembleRanker.For(bundle, space)!;
            var trained = result.Part(EnsembleParts.BlendFor(space)).Content;
            // The weights the trainer fitted are the ones the bundle serves, feature by feature.
            Assert.Equal(trained.ItemIds, ranker.Features);
            var weights = trained.Matrices[PartRoles.ItemFactors].Values;
            var mapped = bundle.Part(EnsembleParts.BlendFor(space)).ItemFactors;
            for (var i = 0; i < weights.Length; i++) Assert.Equal(weights[i], mapped.Row(i)[0]);
            Assert.Contains(weights, w => w != 0);
            Assert.True(trained.Metrics[ModelMetrics.RelatedPrecisionAt(space == IdSpaces.Tracks ? 10 : 20)] > 0);
        }

        // Genre ground truth: similar tracks of 150 seeds, the ensemble against the ALS part's cosine neighbours.
        var genreOf = File.ReadLines(Path.Combine(_root, "world", SampleWorldGenerator.GenresFileName)).Skip(1)
            .Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);
        string Genre(int track) => genreOf[bundle.Artists[bundle.Catalog.ArtistOf(track)]];
        var tracks = EnsembleRanker.For(bundle, IdSpaces.Tracks)!;
        var als = CosineVectors.Of(bundle.Part("tracks"));
        var ids = new int[10];
        var scores = new float[10];
        double ensembleSame = 0, alsSame = 0, ensembleAll = 0, alsAll = 0;
        for (var seed = 0; seed < bundle.Tracks.Count; seed += bundle.Tracks.Count / 150)
        {
            if (bundle.Catalog.Popularity(seed) <= 0) continue;
            var n = tracks.Rank(seed, ids, scores);
            for (var i = 0; i < n; i++) ensembleSame += Genre(ids[i]) == Genre(seed) ? 1 : 0;
            ensembleAll += n;
            n = als.Nearest(seed, ids, scores, default);
            for (var i = 0; i < n; i++) alsSame += Genre(ids[i]) == Genre(seed) ? 1 : 0;
            alsAll += n;
        }
        var ensembleShare = ensembleSame / ensembleAll;
        var alsShare = alsSame / alsAll;
        Assert.True(ensembleShare > alsShare, $"ensemble same-genre {ensembleShare:F3} is not above ALS alone {alsShare:F3}");
        Assert.True(ensembleShare >= 0.9, $"ensemble same-genre {ensembleShare:F3} (chance about 1/6)");

        RadioPoolIsTheArtistsNeighbourhoodRankedByTheBlend(bundle);
    }

    /// <summary>
    /// Radio's pool against a brute-force reading of its definition: the seed artist's memoized neighbourhood is the
    /// prefix of the artists' blend ranking, and the ranked pool is every top track of the seed's artist and of those
    /// artists (the catalog's most played first), without the seed and the excluded, in the blend's order.
    /// </summary>
    private static void RadioPoolIsTheArtistsNeighbourhoodRankedByTheBlend(ModelBundle bundle)
    {
        // Prefetching is a hint, made before the checked reads: never a throw, whatever the item.
        foreach (var part in bundle.Parts)
            if (ItemSimilarities.Of(part) is { } view)
                foreach (var item in new[] { -1, 0, int.MaxValue, int.MinValue }) view.Prefetch(item);

        var tracks = EnsembleRanker.For(bundle, IdSpaces.Tracks)!;
        var artists = EnsembleRanker.For(bundle, IdSpaces.Artists)!;
        const int artistCount = 12, perArtist = 3;
        var full = new int[EnsembleRanker.NeighbourhoodSize];
        for (var seed = 5; seed < bundle.Tracks.Count; seed += bundle.Tracks.Count / 12)
        {
            var seedArtist = bundle.Catalog.ArtistOf(seed);
            var n = artists.Rank(seedArtist, full, new float[full.Length]);
            var neighbourhood = artists.Neighbourhood(seedArtist, artistCount).ToArray();
            Assert.Equal(full.Take(Math.Min(artistCount, n)), neighbourhood);
            Assert.Equal(neighbourhood, artists.Neighbourhood(seedArtist, artistCount).ToArray()); // kept, not ranked anew

            int[] excluded = [bundle.Catalog.TracksOf(seedArtist)[^1]];
            var expected = new[] { seedArtist }.Concat(neighbourhood)
                .SelectMany(a => bundle.Catalog.TracksOf(a)[..Math.Min(perArtist, bundle.Catalog.TracksOf(a).Length)].ToArray())
                .Where(t => t != seed && !excluded.Contains(t))
                .OrderByDescending(t => tracks.Score(seed, t)).ThenBy(t => t).Take(40).ToArray();
            var ids = new int[40];
            var scores = new float[40];
            var got = tracks.RankAmongArtists(seed, artists, artistCount, perArtist, ids, scores, excluded);
            Assert.Equal(expected.Length, got);
            for (var i = 0; i < got; i++)
                Assert.Equal(1f / (1f + MathF.Exp(-tracks.Score(seed, expected[i]))), scores[i], 1e-5f);
            Assert.Equal(expected.ToHashSet(), ids[..got].ToHashSet());
        }
    }

    [Fact]
    public async Task The_same_seed_gives_the_same_parts_and_blend()
    {
        var (first, _, _) = await TrainAsync("a");
        var (second, _, _) = await TrainAsync("b");
        foreach (var name in new[] { EnsembleParts.BprTracks, EnsembleParts.BprArtists, EnsembleParts.Word2VecTracks, EnsembleParts.Word2VecArtists, EnsembleParts.BlendTracks, EnsembleParts.BlendArtists })
        {
            var a = first.Part(name).Content.Matrices[PartRoles.ItemFactors].Values;
            var b = second.Part(name).Content.Matrices[PartRoles.ItemFactors].Values;
            Assert.True(a.AsSpan().SequenceEqual(b), $"part {name} differs between two runs with the same seed");
        }
        foreach (var name in new[] { EnsembleParts.TagArtists, EnsembleParts.CooccurrenceArtists })
        {
            var a = first.Part(name).Content.Sparse;
            var b = second.Part(name).Content.Sparse;
            foreach (var role in a.Keys)
            {
                Assert.Equal(a[role].ColumnIndices, b[role].ColumnIndices);
                Assert.Equal(a[role].Values, b[role].Values);
            }
        }
    }
}
