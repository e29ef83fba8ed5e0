using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Core.Vectors;
using RecService.Models;
using RecService.Models.Als;

namespace RecService.Serving.Tests;

/// <summary>
/// A small synthetic model with known structure: tracks in clusters (one artist per cluster), each user's vector
/// near one cluster's centre, each user having played a few tracks of its cluster. Lets tests check answers
/// against brute force and against the clusters.
/// </summary>
public sealed class TestWorld
{
    public const int Factors = 16;
    public int Users { get; }
    public int Tracks { get; }
    public int Clusters { get; }
    public float[] UserFactors { get; }
    public float[] TrackFactors { get; }
    public float[] ArtistFactors { get; }
    public int[] TrackCluster { get; }
    public int[] UserCluster { get; }
    public CsrMatrix Played { get; }

    public TestWorld(ulong seed, int users = 400, int tracks = 2000, int clusters = 20)
    {
        Users = users;
        Tracks = tracks;
        Clusters = clusters;
        var rng = new Xoshiro256(seed);
        var centres = new float[clusters * Factors];
        for (var i = 0; i < centres.Length; i++) centres[i] = (float)rng.NextGaussian();
        TrackCluster = new int[tracks];
        TrackFactors = new float[tracks * Factors];
        for (var t = 0; t < tracks; t++)
        {
            var c = TrackCluster[t] = t % clusters;
            var scale = (float)Math.Exp(rng.NextGaussian() * 0.3);
            for (var f = 0; f < Factors; f++) TrackFactors[t * Factors + f] = scale * (centres[c * Factors + f] + 0.35f * (float)rng.NextGaussian());
        }
        ArtistFactors = new float[clusters * Factors];
        for (var a = 0; a < clusters; a++)
            for (var f = 0; f < Factors; f++) ArtistFactors[a * Factors + f] = centres[a * Factors + f] + 0.05f * (float)rng.NextGaussian();
        UserCluster = new int[users];
        UserFactors = new float[users * Factors];
        var rows = new List<int>();
        var cols = new List<int>();
        var vals = new List<float>();
        for (var u = 0; u < users; u++)
        {
            var c = UserCluster[u] = rng.NextInt(clusters);
            for (var f = 0; f < Factors; f++) UserFactors[u * Factors + f] = centres[c * Factors + f] + 0.2f * (float)rng.NextGaussian();
            for (var k = 0; k < 5; k++)
            {
                rows.Add(u);
                cols.Add(c + clusters * rng.NextInt(tracks / clusters));
                vals.Add(1 + rng.NextInt(20));
            }
        }
        Played = CsrMatrix.FromTriples(users, tracks, rows.ToArray(), cols.ToArray(), vals.ToArray());
    }

    public static string UserId(int u) => $"user-{u}";
    public static string TrackId(int t) => $"track-{t}";
    public static string ArtistId(int a) => $"artist-{a}";

    /// <summary>The tracks part's parameters (fold-in reads them); the artists part shares the factor count.</summary>
    public AlsParameters TrackParameters { get; init; } = AlsParameters.Defaults with { Factors = Factors };

    public BundleContent Content() => new()
    {
        UserIds = Enumerable.Range(0, Users).Select(UserId).ToList(),
        TrackIds = Enumerable.Range(0, Tracks).Select(TrackId).ToList(),
        ArtistIds = Enumerable.Range(0, Clusters).Select(ArtistId).ToList(),
        Played = Played,
        TrackArtist = TrackCluster,
        TrackTitles = Enumerable.Range(0, Tracks).Select(TrackTitle).ToList(),
        ArtistNames = Enumerable.Range(0, Clusters).Select(ArtistName).ToList(),
        Parts =
        [
            AlsFamily.Content(AlsParts.TracksPart, IdSpaces.Users, IdSpaces.Tracks, TrackParameters, TrackFactors, Tracks, UserFactors, Users,
                [Metric.Dot, Metric.Cosine], new Dictionary<string, double> { [ModelMetrics.PrecisionAt(10)] = 0.5 }),
            AlsFamily.Content(AlsParts.ArtistsPart, IdSpaces.Users, IdSpaces.Artists, AlsParameters.Defaults with { Factors = Factors }, ArtistFactors, Clusters,
                null, 0, [Metric.Cosine]),
        ],
    };

    /// <summary>Names written into the bundle (tests of escaping give stranger ones).</summary>
    public Func<int, string> TrackTitle { get; init; } = t => $"Song {t}";
    public Func<int, string> ArtistName { get; init; } = a => $"Band {a}";

    public BundleManifest Publish(BundleStore store, string tag = "test", IReadOnlyDictionary<string, string>? training = null,
        BundleForestOptions? forests = null)
    {
        var manifest = new BundleManifest { Training = { ["source"] = tag } };
        foreach (var (key, value) in training ?? new Dictionary<string, string>()) manifest.Training[key] = value;
        return store.Publish(manifest, Content(), forests ?? new BundleForestOptions { TrackTrees = 4, ArtistTrees = 2, Threads = 1 });
    }

    /// <summary>Exact top-k tracks by inner product for a user, leaving out what it played.</summary>
    public int[] ExactRecommend(int user, int k)
    {
        var played = Played.RowIndices(user).ToArray();
        return Enumerable.Range(0, Tracks).Where(t => !played.Contains(t))
            .OrderByDescending(t => Dot(UserFactors.AsSpan(user * Factors, Factors), TrackFactors.AsSpan(t * Factors, Factors)))
            .Take(k).ToArray();
    }

    private static float Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        var s = 0f;
        for (var i = 0; i < a.Length; i++) s += a[i] * b[i];
        return s;
    }
}
