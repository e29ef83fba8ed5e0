using System.Text.Json.Nodes;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Core.Vectors;
using RecService.Models;
using RecService.Models.Als;
using RecService.Serving.Extensions;
using RecService.Serving.Recommendations;
using RecService.Serving.Tests;
using RecService.Synthetic;
using RecService.Training.Als;
using RecService.Training.Pipeline;

namespace RecService.EndToEnd.Tests;

/// <summary>
/// A toy second model family added through the public seams only: one class (<see cref="RandomVectorPart"/>) that
/// trains a part, validates it when a bundle opens and serves it as a candidate source, plus its registration with the
/// training job, the family registry and the replica. It is trained, published, validated and served by name.
/// </summary>
public sealed class ModelPartSeamTests
{
    private static readonly SampleWorldOptions World = new() { Users = 400, Artists = 40, Tracks = 400, Days = 2, Genres = 4, Seed = 11 };

    [Fact]
    public async Task A_new_part_is_trained_published_validated_and_served_by_name()
    {
        using var data = new TempDirectory();
        using var models = new TempDirectory();
        SampleWorldGenerator.Generate(World, data.Path);
        var options = new TrainingJobOptions
        {
            SnapshotsDirectory = Path.Combine(data.Path, "snapshots"),
            CatalogDirectory = Path.Combine(data.Path, "catalog"),
            Tracks = new AlsOptions { Factors = 8, Iterations = 3, Threads = 2 },
            Artists = new AlsOptions { Factors = 8, Iterations = 3, Threads = 2 },
            Forests = new BundleForestOptions { TrackTrees = 3, ArtistTrees = 2, Threads = 1 },
        };
        var toy = new RandomVectorPart();
        var job = new TrainingJob(options, parts: [.. AlsPartTrainer.Defaults(options), toy]);
        var result = await job.RunAsync();
        var store = new BundleStore(models.Path);
        var manifest = job.Publish(result, store);

        var entry = Assert.Single(manifest.Parts, p => p.Name == RandomVectorPart.PartNameValue);
        Assert.Equal(RandomVectorPart.FamilyName, entry.Family);
        Assert.Equal(1.0, manifest.PartMetric(RandomVectorPart.PartNameValue, RandomVectorPart.CoverageMetric));

        var families = KnownFamilies.All.With(toy);
        var directory = store.PathOf(manifest.ModelVersion);
        var checks = toy.Validations;
        using (var bundle = ModelBundle.Open(directory, verifyChecksums: true, families))
        {
            Assert.Equal(checks + 1, toy.Validations);
            var part = bundle.Part(RandomVectorPart.PartNameValue);
            Assert.Equal(bundle.Tracks.Count, part.Forest(PartRoles.Cosine).Count);
            Assert.Equal(RandomVectorPart.Dimensions, part.ItemFactors.Columns);
            Assert.Equal(new RandomVectorPart.Settings(RandomVectorPart.Dimensions, RandomVectorPart.Seed), part.Parameters<RandomVectorPart.Settings>());
        }

        // A copy whose part claims other dimensions than its matrix holds is refused by the family's own check.
        var tampered = Path.Combine(models.Path, "tampered");
        Directory.CreateDirectory(tampered);
        foreach (var file in Directory.GetFiles(directory)) File.Copy(file, Path.Combine(tampered, Path.GetFileName(file)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(tampered, BundleManifest.FileName)))!;
        var random = json["parts"]!.AsArray().Single(p => (string?)p!["name"] == RandomVectorPart.PartNameValue)!;
        random["parameters"]!["dimensions"] = RandomVectorPart.Dimensions + 1;
        File.WriteAllText(Path.Combine(tampered, BundleManifest.FileName), json.ToJsonString());
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(tampered, verifyChecksums: true, families));
        Assert.Contains(RandomVectorPart.PartNameValue, error.Message);
        // Without the family registered, only the generic checks run and the copy opens.
        using (ModelBundle.Open(tampered, verifyChecksums: true, KnownFamilies.All)) { }
        Directory.Delete(tampered, recursive: true);

        // Served by name: a known user's list comes from the new source, which the chain asks before the trained vector.
        await using var replica = await Replica.StartAsync(models.Path, extend: s => s.AddModelFamily(toy).AddCandidateSource<RandomVectorPart>());
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        var user = File.ReadLines(Directory.GetFiles(Path.Combine(data.Path, "snapshots"), "*.tsv", SearchOption.AllDirectories)[0]).Skip(1).First().Split('\t')[0];
        var list = await replica.Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 10 });
        Assert.Equal(RandomVectorPart.PartNameValue, list.Source);
        Assert.Equal(10, list.Items.Count);
        Assert.Equal(10, list.Items.Select(i => i.Id).Distinct().Count());
        var stranger = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "nobody-knows-me", Count = 5 });
        Assert.Equal("popular", stranger.Source);
    }
}

/// <summary>
/// The toy family: a random unit vector per track with a cosine forest over them. As a source it answers with the
/// tracks nearest (in this random space) to the user's first played track: meaningless as music, but it exercises every
/// seam a real second model uses.
/// </summary>
public sealed class RandomVectorPart : IPartTrainer, IModelFamily, ICandidateSource
{
    public const string PartNameValue = "random";
    public const string FamilyName = "random-vectors";
    public const string CoverageMetric = "coverage";
    public const int Dimensions = 8;
    public const ulong Seed = 7;

    /// <summary>The part's typed parameters, as the manifest stores them.</summary>
    public sealed record Settings(int Dimensions, ulong Seed);

    private int _validations;
    public int Validations => Volatile.Read(ref _validations);

    // Training side.
    public string PartName => PartNameValue;
    public IReadOnlyDictionary<string, string> Facts { get; } = new Dictionary<string, string> { ["kind"] = "random unit vectors" };

    public PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct) =>
        new(new Dictionary<string, double> { [CoverageMetric] = 1.0 }, Train(input, ct));

    public PartContent Train(PartTrainingInput input, CancellationToken ct)
    {
        var tracks = input.Data.Catalog!.TrackCount;
        var rng = new Xoshiro256(Seed);
        var vectors = new float[tracks * Dimensions];
        for (var i = 0; i < vectors.Length; i++) vectors[i] = (float)rng.NextGaussian();
        return new PartContent
        {
            Name = PartNameValue,
            Family = FamilyName,
            Items = IdSpaces.Tracks,
            Matrices = new Dictionary<string, PartMatrix> { [PartRoles.ItemFactors] = new(vectors, tracks, Dimensions) },
            Forests = [new PartForest(PartRoles.Cosine, Metric.Cosine)],
            Parameters = PartContent.ParametersOf(new Settings(Dimensions, Seed)),
            Metrics = new Dictionary<string, double> { [CoverageMetric] = 1.0 },
        };
    }

    // Serving side: the family's checks.
    public string Family => FamilyName;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        Interlocked.Increment(ref _validations);
        var settings = part.Parameters<Settings>();
        if (settings.Dimensions != part.ItemFactors.Columns)
            throw new InvalidDataException($"{bundle.Directory}: part {part.Name}: parameters say {settings.Dimensions} dimensions, the matrix has {part.ItemFactors.Columns}.");
        if (part.Items.Count != bundle.Tracks.Count || !part.Forests.ContainsKey(PartRoles.Cosine))
            throw new InvalidDataException($"{bundle.Directory}: part {part.Name}: needs a vector and a cosine forest for every track.");
    }

    // Serving side: a candidate source, asked before the trained vector.
    public string Name => PartNameValue;
    public int Order => 250;

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores)
    {
        if (context.User < 0 || context.Tracks.IsEmpty || !context.Bundle.TryGetPart(PartNameValue, out var part)) return 0;
        var n = part.Forest(PartRoles.Cosine).SearchByItem(context.Tracks[0], ids.Length, ids, scores, excluded: context.Played);
        var kept = 0;
        for (var i = 0; i < n; i++)
        {
            if (context.Excluded.Contains(ids[i])) continue;
            ids[kept] = ids[i];
            scores[kept++] = scores[i];
        }
        return kept;
    }
}
