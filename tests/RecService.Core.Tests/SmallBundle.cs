using System.Text.Json;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Core.Vectors;

namespace RecService.Core.Tests;

/// <summary>A small complete bundle (catalog plus one part with user and item factors, a Gram matrix and both
/// forests), for the store and fault tests: written with the real writer and publisher.</summary>
internal static class SmallBundle
{
    public const int Users = 60, Tracks = 240, Artists = 12, Factors = 8;

    public static BundleContent Content(ulong seed = 3)
    {
        var rng = new Xoshiro256(seed);
        float[] Gaussian(int n)
        {
            var v = new float[n];
            for (var i = 0; i < n; i++) v[i] = (float)rng.NextGaussian();
            return v;
        }
        var items = Gaussian(Tracks * Factors);
        var users = Gaussian(Users * Factors);
        var rows = new List<int>();
        var cols = new List<int>();
        var vals = new List<float>();
        for (var u = 0; u < Users; u++)
            foreach (var t in Enumerable.Range(0, 4).Select(_ => rng.NextInt(Tracks)).Distinct())
            {
                rows.Add(u);
                cols.Add(t);
                vals.Add(1 + rng.NextInt(9));
            }
        return new BundleContent
        {
            UserIds = Enumerable.Range(0, Users).Select(u => $"user-{u}").ToList(),
            TrackIds = Enumerable.Range(0, Tracks).Select(t => $"track-{t}").ToList(),
            ArtistIds = Enumerable.Range(0, Artists).Select(a => $"artist-{a}").ToList(),
            Played = CsrMatrix.FromTriples(Users, Tracks, rows.ToArray(), cols.ToArray(), vals.ToArray()),
            TrackArtist = Enumerable.Range(0, Tracks).Select(t => t % Artists).ToList(),
            TrackTitles = Enumerable.Range(0, Tracks).Select(t => $"Song {t}").ToList(),
            ArtistNames = Enumerable.Range(0, Artists).Select(a => $"Band {a}").ToList(),
            Parts =
            [
                new PartContent
                {
                    Name = "tracks",
                    Family = "test",
                    Rows = IdSpaces.Users,
                    Items = IdSpaces.Tracks,
                    Matrices = new Dictionary<string, PartMatrix>
                    {
                        [PartRoles.ItemFactors] = new(items, Tracks, Factors),
                        [PartRoles.UserFactors] = new(users, Users, Factors),
                    },
                    Extras = new Dictionary<string, PartMatrix> { [PartRoles.Gram] = new(FactorGram.Compute(items, Tracks, Factors), Factors, Factors) },
                    Forests = [new PartForest(PartRoles.Dot, Metric.Dot, 3), new PartForest(PartRoles.Cosine, Metric.Cosine, 2)],
                    Parameters = JsonSerializer.SerializeToElement(new { factors = Factors }),
                },
            ],
        };
    }

    public static BundleManifest Publish(BundleStore store, ulong seed = 3) =>
        store.Publish(new BundleManifest { Training = { ["source"] = "test" } }, Content(seed), new BundleForestOptions { Threads = 1 });

    /// <summary>Rewrites the manifest's size and checksum of <paramref name="file"/> after a test changed it, so that
    /// opening reaches the file's own checks instead of stopping at the checksum.</summary>
    public static void Resign(string directory, string file)
    {
        var manifestPath = Path.Combine(directory, BundleManifest.FileName);
        var manifest = BundleManifest.Read(directory);
        var path = Path.Combine(directory, file);
        var files = manifest.Files.Select(f => f.Name == file ? f with { Bytes = new FileInfo(path).Length, Xxh3 = BundleManifest.Checksum(path) } : f).ToList();
        MakeWritable(manifestPath);
        File.WriteAllText(manifestPath, (manifest with { Files = files }).ToJson());
    }

    public static void MakeWritable(string path)
    {
        if (!OperatingSystem.IsWindows() && File.Exists(path))
            File.SetUnixFileMode(path, File.GetUnixFileMode(path) | UnixFileMode.UserWrite);
    }

    /// <summary>Overwrites float <paramref name="index"/> of a matrix file's data section in place.</summary>
    public static void PokeMatrix(string path, long index, float value)
    {
        long dataOffset;
        using (var file = SectionFile.Open(path, MappedMatrix.Kind)) dataOffset = (long)file.Entry<float>("DATA").Offset;
        MakeWritable(path);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Position = dataOffset + index * sizeof(float);
        stream.Write(BitConverter.GetBytes(value));
    }
}
