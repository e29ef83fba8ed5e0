using System.Diagnostics;
using System.Text;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using Xunit.Abstractions;

namespace RecService.Core.Tests;

/// <summary>Damaged bundles through <see cref="ModelBundle.Open"/>: non-finite factors, and a seeded, bounded fuzz pass
/// over every file kind (issue 18, 7 and the fuzz pass).</summary>
public sealed class BundleOpenFuzzTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = TestData.TempPath("bundle-fuzz");

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private string PublishOne(out BundleManifest manifest)
    {
        var store = new BundleStore(Path.Combine(_dir, "models"));
        manifest = SmallBundle.Publish(store);
        return store.PathOf(manifest.ModelVersion);
    }

    [Theory]
    [InlineData("tracks.user-factors.mat", float.NaN)]
    [InlineData("tracks.user-factors.mat", float.PositiveInfinity)]
    [InlineData("tracks.item-factors.mat", float.NegativeInfinity)]
    [InlineData("tracks.gram.mat", float.NaN)]
    [InlineData("tracks.user-factors.mat", 3e36f)]
    [InlineData("tracks.item-factors.mat", -3e36f)]
    public void A_non_finite_factor_is_refused_at_open_naming_the_file(string file, float value)
    {
        var dir = PublishOne(out _);
        SmallBundle.PokeMatrix(Path.Combine(dir, file), 13, value);
        SmallBundle.Resign(dir, file);
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(dir));
        Assert.Contains(file, error.Message);
        Assert.Contains("non-finite", error.Message);
    }

    [Theory]
    [InlineData("\"files\": [", "\"files\": null, \"x\": [")]
    [InlineData("\"files\": [", "\"files\": [null, ")]
    [InlineData("\"parts\": [", "\"parts\": null, \"x\": [")]
    [InlineData("\"parts\": [", "\"parts\": [null, ")]
    [InlineData("\"matrices\": {", "\"matrices\": null, \"x\": {")]
    [InlineData("\"forests\": {", "\"forests\": null, \"x\": {")]
    [InlineData("\"extras\": {", "\"extras\": null, \"x\": {")]
    [InlineData("\"metrics\": {", "\"metrics\": null, \"x\": {")]
    [InlineData("\"training\": {", "\"training\": null, \"x\": {")]
    [InlineData("\"modelVersion\": \"", "\"modelVersion\": null, \"x\": \"")]
    [InlineData("\"family\": \"", "\"family\": null, \"x\": \"")]
    [InlineData("\"items\": \"", "\"items\": null, \"x\": \"")]
    [InlineData("\"name\": \"users.ids\"", "\"name\": null")]
    [InlineData("\"xxh3\": \"", "\"xxh3\": null, \"x\": \"")]
    [InlineData("\"bytes\": ", "\"bytes\": -1, \"x\": ")]
    public void A_manifest_with_nulls_or_wrong_values_is_refused_naming_it(string find, string replace)
    {
        var dir = PublishOne(out _);
        var path = Path.Combine(dir, BundleManifest.FileName);
        var json = File.ReadAllText(path);
        var at = json.IndexOf(find, StringComparison.Ordinal);
        Assert.True(at >= 0, $"{find} not in the manifest");
        SmallBundle.MakeWritable(path);
        File.WriteAllText(path, json[..at] + replace + json[(at + find.Length)..]);
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(dir));
        Assert.Contains(dir, error.Message);
    }

    [Fact]
    public async Task A_fifo_in_place_of_a_bundle_file_is_refused_without_blocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        var dir = PublishOne(out _);
        var users = Path.Combine(dir, BundleFiles.Users);
        File.Delete(users);
        using (var mkfifo = Process.Start("mkfifo", users)) await mkfifo.WaitForExitAsync();
        var open = Task.Run(() => ModelBundle.Open(dir).Dispose());
        var finished = await Task.WhenAny(open, Task.Delay(TimeSpan.FromSeconds(3))) == open;
        if (!finished) _ = Task.Run(() => { using var writer = new FileStream(users, FileMode.Open, FileAccess.Write); });
        Assert.True(finished, "opening a bundle with a FIFO for a file blocked");
        Assert.Contains("not a regular file", (await Assert.ThrowsAsync<InvalidDataException>(() => open)).Message);
    }

    private static readonly string[] Targets =
    [
        BundleManifest.FileName, BundleFiles.Users, BundleFiles.Tracks, BundleFiles.Artists, BundleFiles.Played, BundleFiles.UserArtists,
        BundleFiles.Catalog, "tracks.item-factors.mat", "tracks.user-factors.mat", "tracks.gram.mat", "tracks.dot.forest", "tracks.cosine.forest",
    ];

    [Fact]
    public void Mutated_bundle_files_fail_to_open_with_a_clear_error_naming_the_file_never_a_crash()
    {
        var source = PublishOne(out _);
        var work = Path.Combine(_dir, "work");
        Directory.CreateDirectory(work);
        var originals = new Dictionary<string, byte[]>();
        foreach (var file in Directory.EnumerateFiles(source))
        {
            var name = Path.GetFileName(file);
            originals[name] = File.ReadAllBytes(file);
            File.WriteAllBytes(Path.Combine(work, name), originals[name]);
        }

        var rng = new Xoshiro256(2026);
        var clock = Stopwatch.StartNew();
        int inputs = 0, opened = 0, refused = 0, failedOnUse = 0;
        var failures = new List<string>();
        var refusedBy = new SortedDictionary<string, int>(StringComparer.Ordinal);
        while (inputs < 2500 && clock.Elapsed < TimeSpan.FromSeconds(10))
        {
            inputs++;
            var target = Targets[rng.NextInt(Targets.Length)];
            var (bytes, how) = Mutate(originals[target], target == BundleManifest.FileName, rng);
            File.WriteAllBytes(Path.Combine(work, target), bytes);
            // Usually re-sign the manifest so that opening reaches the file's own checks, not only the checksum.
            if (target != BundleManifest.FileName && rng.NextInt(4) != 0) SmallBundle.Resign(work, target);
            try
            {
                using var bundle = ModelBundle.Open(work, verifyChecksums: true);
                opened++;
                if (!Exercise(bundle, rng)) failedOnUse++;
            }
            catch (InvalidDataException ex)
            {
                refused++;
                var kind = Path.GetExtension(target);
                refusedBy[kind] = refusedBy.GetValueOrDefault(kind) + 1;
                if (!ex.Message.Contains(target) && !ex.Message.Contains(work) && !ex.Message.Contains("manifest"))
                    failures.Add($"{target} ({how}): unclear message: {ex.Message}");
            }
            catch (Exception ex)
            {
                failures.Add($"{target} ({how}): {ex.GetType().Name}: {ex.Message}");
            }
            File.WriteAllBytes(Path.Combine(work, target), originals[target]);
            File.WriteAllBytes(Path.Combine(work, BundleManifest.FileName), originals[BundleManifest.FileName]);
        }
        output.WriteLine($"{inputs} mutated bundles in {clock.Elapsed.TotalSeconds:F1} s: {refused} refused at open " +
                         $"({string.Join(", ", refusedBy.Select(p => $"{p.Key} {p.Value}"))}), {opened} opened ({failedOnUse} of them failed cleanly on use)");
        Assert.True(failures.Count == 0, $"{failures.Count} of {inputs} inputs failed badly:\n" + string.Join("\n", failures.Take(20)));
        Assert.True(refused > inputs / 2, $"only {refused} of {inputs} refused: the mutations miss the checks");
    }

    /// <summary>Reads through an opened (possibly damaged) bundle as requests would; false when a read failed cleanly.</summary>
    private static bool Exercise(ModelBundle bundle, Xoshiro256 rng)
    {
        try
        {
            for (var i = 0; i < bundle.Users.Count; i += 7) _ = bundle.Users.IndexOf(bundle.Users[i]);
            for (var i = 0; i < bundle.Tracks.Count; i += 11) _ = bundle.Catalog.Title(i) + bundle.Catalog.ArtistName(bundle.Catalog.ArtistOf(i));
            for (var r = 0; r < bundle.Played.Rows; r += 5) _ = bundle.Played.RowIndices(r).Length + bundle.UserArtists.RowIndices(r).Length;
            if (bundle.Catalog.PopularCount > 0) _ = bundle.Catalog.Popular(0);
            var ids = new int[10];
            var scores = new float[10];
            foreach (var part in bundle.Parts)
            {
                foreach (var forest in part.Forests.Values)
                {
                    for (var q = 0; q < 3; q++)
                    {
                        var query = new float[forest.Dimensions];
                        for (var j = 0; j < query.Length; j++) query[j] = (float)rng.NextGaussian();
                        forest.Search(query, 10, ids, scores);
                        forest.SearchByItem(rng.NextInt(forest.Count), 10, ids, scores);
                    }
                    forest.Verify();
                }
            }
            return true;
        }
        catch (Exception ex) when (ex is InvalidDataException or ArgumentOutOfRangeException)
        {
            return false;
        }
    }

    private static (byte[] Bytes, string How) Mutate(byte[] original, bool json, Xoshiro256 rng)
    {
        var bytes = (byte[])original.Clone();
        if (json && rng.NextInt(2) == 0) return MutateJson(Encoding.UTF8.GetString(original), rng);
        switch (rng.NextInt(6))
        {
            case 0:
                return (bytes.AsSpan(0, rng.NextInt(bytes.Length)).ToArray(), "truncated");
            case 1:
                return ([.. bytes, .. Enumerable.Range(0, 1 + rng.NextInt(200)).Select(_ => (byte)rng.NextInt(256))], "appended");
            case 2:
            {
                // A header or table field replaced by an extreme value (8-byte aligned: counts, offsets, lengths).
                var at = rng.NextInt(Math.Max(1, Math.Min(bytes.Length, 512) / 8)) * 8;
                long[] extremes = [0, -1, long.MaxValue, long.MinValue, int.MaxValue, uint.MaxValue, 64, 1L << 40, rng.NextInt(1 << 20)];
                var value = extremes[rng.NextInt(extremes.Length)];
                BitConverter.TryWriteBytes(bytes.AsSpan(at, Math.Min(8, bytes.Length - at)), value);
                return (bytes, $"field at {at} = {value}");
            }
            case 3:
            {
                var at = rng.NextInt(bytes.Length / 4) * 4;
                float[] specials = [float.NaN, float.PositiveInfinity, float.NegativeInfinity, 3e36f, float.Epsilon];
                BitConverter.TryWriteBytes(bytes.AsSpan(at), specials[rng.NextInt(specials.Length)]);
                return (bytes, $"float at {at}");
            }
            case 4:
            {
                var start = rng.NextInt(bytes.Length);
                var length = Math.Min(bytes.Length - start, 1 + rng.NextInt(256));
                bytes.AsSpan(start, length).Fill((byte)(rng.NextInt(2) == 0 ? 0 : 0xFF));
                return (bytes, $"filled [{start}, +{length})");
            }
            default:
            {
                for (var flips = 1 + rng.NextInt(4); flips > 0; flips--)
                {
                    // Half the flips hit the header and table, where the checks live; half anywhere.
                    var at = rng.NextInt(2) == 0 ? rng.NextInt(Math.Min(bytes.Length, 320)) : rng.NextInt(bytes.Length);
                    bytes[at] ^= (byte)(1 + rng.NextInt(255));
                }
                return (bytes, "flipped bytes");
            }
        }
    }

    private static (byte[] Bytes, string How) MutateJson(string json, Xoshiro256 rng)
    {
        string[] replacements = ["null", "[]", "{}", "-1", "1e308", "\"\"", "\"../../etc/passwd\"", "9223372036854775807", "true", "[null]"];
        // Replace one value (what follows a ':' up to the next ',' or line end) or one array element.
        var colons = Enumerable.Range(0, json.Length).Where(i => json[i] == ':').ToList();
        if (colons.Count == 0 || rng.NextInt(5) == 0)
        {
            var start = rng.NextInt(json.Length);
            var cut = json.Remove(start, Math.Min(json.Length - start, 1 + rng.NextInt(40)));
            return (Encoding.UTF8.GetBytes(cut), $"cut at {start}");
        }
        var at = colons[rng.NextInt(colons.Count)] + 1;
        var end = at;
        var depth = 0;
        while (end < json.Length && !(depth == 0 && json[end] is ',' or '\n'))
        {
            if (json[end] is '{' or '[') depth++;
            if (json[end] is '}' or ']') { if (depth == 0) break; depth--; }
            end++;
        }
        var replacement = replacements[rng.NextInt(replacements.Length)];
        return (Encoding.UTF8.GetBytes(json[..at] + " " + replacement + json[end..]), $"value at {at} = {replacement}");
    }
}
