using RecService.Core.Bundle;
using RecService.Core.Forest;
using RecService.Core.Vectors;
using RecService.Core.Sampling;
using RecService.Core.Sparse;

namespace RecService.Core.Tests;

public sealed class BundleFormatTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recservice-tests", Guid.NewGuid().ToString("N"));

    public BundleFormatTests() => Directory.CreateDirectory(_dir);

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private string PathOf(string name) => Path.Combine(_dir, name);

    [Fact]
    public void A_format_1_bundle_is_refused_with_a_message_to_retrain()
    {
        var bundle = PathOf("format1");
        Directory.CreateDirectory(bundle);
        File.WriteAllText(Path.Combine(bundle, BundleManifest.FileName), """{ "formatVersion": 1, "modelVersion": "old", "files": [] }""");
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(bundle));
        Assert.Contains("format 1", error.Message);
        Assert.Contains("retrain", error.Message);
    }

    [Fact]
    public void Id_map_finds_every_id_and_nothing_else()
    {
        var ids = Enumerable.Range(0, 5000).Select(i => i % 7 == 0 ? $"ü-{i}-ñ" : $"id{i}").ToList();
        MappedIdMap.Write(PathOf("ids"), ids);
        using var file = SectionFile.Open(PathOf("ids"), MappedIdMap.Kind);
        var map = new MappedIdMap(file);
        Assert.Equal(ids.Count, map.Count);
        for (var i = 0; i < ids.Count; i++)
        {
            Assert.Equal(i, map.IndexOf(ids[i]));
            Assert.Equal(ids[i], map[i]);
        }
        Assert.Equal(-1, map.IndexOf("id5000"));
        Assert.Equal(-1, map.IndexOf(""));
        Assert.Equal(-1, map.IndexOf(new string('x', 2000)));
    }

    [Fact]
    public void Stored_top_artists_rank_like_the_plays_they_come_from_ties_included()
    {
        var rng = new Random(8);
        const int users = 300, tracks = 200, artists = 12;
        var trackArtist = Enumerable.Range(0, tracks).Select(t => rng.Next(artists)).ToArray();
        var rows = new List<int>();
        var cols = new List<int>();
        var vals = new List<float>();
        for (var u = 0; u < users; u++)
            foreach (var t in Enumerable.Range(0, tracks).OrderBy(_ => rng.Next()).Take(rng.Next(0, 40)))
            {
                rows.Add(u);
                cols.Add(t);
                vals.Add(rng.Next(1, 4)); // few distinct counts: many ties between artists
            }
        var played = Sparse.CsrMatrix.FromTriples(users, tracks, rows.ToArray(), cols.ToArray(), vals.ToArray());
        var stored = UserArtists.Compute(played, trackArtist, artists);
        var totals = new float[artists];
        Span<int> expected = stackalloc int[UserArtists.PerUser];
        Span<float> expectedPlays = stackalloc float[UserArtists.PerUser];
        Span<int> ranked = stackalloc int[UserArtists.PerUser];
        for (var u = 0; u < users; u++)
        {
            var history = played.RowIndices(u).ToArray().Select(t => trackArtist[t]).ToArray();
            var n = UserArtists.Top(history, played.RowValues(u), totals, new int[history.Length], expected, expectedPlays);
            Assert.True(stored.RowIndices(u).SequenceEqual(stored.RowIndices(u).ToArray().Order().ToArray())); // a CSR row: ascending
            var m = UserArtists.Ranked(stored.RowIndices(u), stored.RowValues(u), ranked);
            Assert.Equal(expected[..n].ToArray(), ranked[..m].ToArray());
        }
        Assert.All(totals, t => Assert.Equal(0f, t)); // the scratch is left clean
    }

    [Fact]
    public void Duplicate_ids_are_refused_when_writing()
    {
        Assert.Throws<ArgumentException>(() => MappedIdMap.Write(PathOf("dup"), ["a", "b", "a"]));
    }

    [Fact]
    public void A_published_bundles_forests_are_tuned_on_their_queries_never_below_the_fixed_default()
    {
        var store = new BundleStore(PathOf("models"));
        var manifest = SmallBundle.Publish(store);
        using (var bundle = ModelBundle.Open(store.PathOf(manifest.ModelVersion)))
        {
            var dot = bundle.Part("tracks").Forest(PartRoles.Dot);
            Assert.True(dot.TunedRecall >= 0.95f, $"tuned recall {dot.TunedRecall}");
            Assert.True(dot.DefaultOptions.SearchK > 0);
            Assert.True(dot.DefaultOptions.SearchK >= ForestSearchOptions.For(Metric.Dot).SearchK || dot.DefaultOptions.SearchK == dot.Count);
            var cosine = bundle.Part("tracks").Forest(PartRoles.Cosine);
            Assert.True(cosine.TunedRecall >= 0.95f, $"tuned recall {cosine.TunedRecall}");
            Assert.True(cosine.DefaultOptions.SearchK >= Math.Min(cosine.Count, ForestSearchOptions.For(Metric.Cosine).SearchK));
        }
        var untuned = store.Publish(new BundleManifest(), SmallBundle.Content(3), new BundleForestOptions { Threads = 1, TargetRecall = 0 });
        using var plain = ModelBundle.Open(store.PathOf(untuned.ModelVersion));
        Assert.Equal(ForestSearchOptions.For(Metric.Dot), plain.Part("tracks").Forest(PartRoles.Dot).DefaultOptions);
    }

    [Fact]
    public void Decoded_ids_are_cached()
    {
        var ids = Enumerable.Range(0, 1000).Select(i => $"id-{i}-é").ToArray();
        MappedIdMap.Write(PathOf("many"), ids);
        using var file = SectionFile.Open(PathOf("many"), MappedIdMap.Kind);
        var map = new MappedIdMap(file);
        var first = map[42];
        Assert.Equal(ids[42], first);
        Assert.Same(first, map[42]); // decoded once, then served from the cache
        Assert.Equal(ids[42], map.Decode(42));
        Assert.NotSame(map.Decode(42), map[42]); // bulk reads decode afresh, leaving the cache alone
        for (var i = 0; i < ids.Length; i++) Assert.Equal(ids[i], map[i]);
        Assert.Throws<ArgumentOutOfRangeException>(() => map[ids.Length]);
    }

    [Fact]
    public void The_string_cache_never_answers_for_another_index_that_shares_its_slot()
    {
        // 8 slots for 100 indices: i, i + 8, i + 16, ... share a slot and keep evicting each other, also across threads.
        var cache = new DecodedStrings(100, maxEntries: 8);
        Assert.Null(cache.TryGet(3));
        Assert.Equal("three", cache.Add(3, "three"));
        Assert.Equal("three", cache.TryGet(3));
        Assert.Null(cache.TryGet(11)); // same slot, other index
        cache.Add(11, "eleven");
        Assert.Null(cache.TryGet(3));
        Assert.Equal("eleven", cache.TryGet(11));
        cache = new DecodedStrings(100, maxEntries: 8);
        Parallel.For(0, 4, t =>
        {
            for (var round = 0; round < 20_000; round++)
            {
                var i = (round * 7 + t) % 100;
                if (cache.TryGet(i) is { } hit) Assert.Equal($"s{i}", hit);
                else cache.Add(i, $"s{i}");
            }
        });
    }

    [Fact]
    public void Matrix_and_sparse_rows_read_back_exactly()
    {
        var rng = new Xoshiro256(3);
        var data = Enumerable.Range(0, 37 * 9).Select(_ => (float)rng.NextGaussian()).ToArray();
        MappedMatrix.Write(PathOf("m"), data, 37, 9);
        var csr = CsrMatrix.FromTriples(4, 6, [0, 0, 2, 3, 3], [5, 1, 2, 0, 4], [1f, 2f, 3f, 4f, 5f]);
        MappedCsr.Write(PathOf("c"), csr);

        using var mf = SectionFile.Open(PathOf("m"), MappedMatrix.Kind);
        var m = new MappedMatrix(mf);
        Assert.Equal((37, 9), (m.Rows, m.Columns));
        for (var r = 0; r < 37; r++) Assert.Equal(data.AsSpan(r * 9, 9).ToArray(), m.Row(r).ToArray());
        Assert.Throws<ArgumentOutOfRangeException>(() => m.Row(37).ToArray());

        using var cf = SectionFile.Open(PathOf("c"), MappedCsr.Kind);
        var c = new MappedCsr(cf);
        for (var r = -1; r <= c.Rows; r++) c.Prefetch(r); // a hint: out-of-range rows are ignored, not thrown on
        Assert.Equal([1, 5], c.RowIndices(0).ToArray());
        Assert.Equal([2f, 1f], c.RowValues(0).ToArray());
        Assert.Empty(c.RowIndices(1).ToArray());
        Assert.Equal([0, 4], c.RowIndices(3).ToArray());
    }

    [Fact]
    public void Wrong_kind_is_refused_by_name()
    {
        MappedMatrix.Write(PathOf("m"), new float[6], 2, 3);
        var error = Assert.Throws<InvalidDataException>(() => SectionFile.Open(PathOf("m"), MappedIdMap.Kind));
        Assert.Contains("'MTRX', expected 'IDMP'", error.Message);
    }

    /// <summary>
    /// Flipped bytes and truncations anywhere must end in a clear refusal at open or an InvalidDataException (or a
    /// range error) on use, never a crash or a wrong read outside the mapping.
    /// </summary>
    [Fact]
    public void Corrupted_or_truncated_files_are_refused_or_fail_cleanly_never_crash()
    {
        var ids = Enumerable.Range(0, 300).Select(i => $"user-{i}").ToList();
        MappedIdMap.Write(PathOf("ids"), ids);
        var original = File.ReadAllBytes(PathOf("ids"));
        var rng = new Xoshiro256(17);
        int refusedAtOpen = 0, failedOnUse = 0, survived = 0;
        for (var trial = 0; trial < 400; trial++)
        {
            var bytes = (byte[])original.Clone();
            if (trial % 4 == 0) bytes = bytes.AsSpan(0, rng.NextInt(bytes.Length)).ToArray();
            else
            {
                for (var flips = 1 + rng.NextInt(4); flips > 0; flips--)
                {
                    // Half the flips hit the header and table, where the checks live; half anywhere.
                    var at = rng.NextInt(2) == 0 ? rng.NextInt(Math.Min(bytes.Length, 64 + 32 * 3)) : rng.NextInt(bytes.Length);
                    bytes[at] ^= (byte)(1 + rng.NextInt(255));
                }
            }
            File.WriteAllBytes(PathOf("bad"), bytes);
            SectionFile file;
            try
            {
                file = SectionFile.Open(PathOf("bad"), MappedIdMap.Kind);
            }
            catch (InvalidDataException)
            {
                refusedAtOpen++;
                continue;
            }
            using (file)
            {
                // Hints come before the checked reads, so they must never throw, whatever the damage.
                if (TryMap(file) is { } hinted)
                    for (var i = -1; i <= hinted.Count; i++) hinted.Prefetch(i);
                try
                {
                    var map = new MappedIdMap(file);
                    for (var i = 0; i < map.Count; i++) _ = map.IndexOf(map[i]);
                    _ = map.IndexOf("not-there");
                    survived++;
                }
                catch (InvalidDataException)
                {
                    failedOnUse++;
                }
            }
        }
        Assert.True(refusedAtOpen > 150, $"only {refusedAtOpen} refused at open");
        Assert.Equal(400, refusedAtOpen + failedOnUse + survived);
    }

    private static MappedIdMap? TryMap(SectionFile file)
    {
        try { return new MappedIdMap(file); }
        catch (InvalidDataException) { return null; }
    }

    [Fact]
    public void Publish_is_atomic_current_moves_only_to_complete_bundles_and_prune_keeps_the_newest()
    {
        var store = new BundleStore(PathOf("models"));
        Assert.Null(store.CurrentVersion());
        var versions = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            var m = store.Publish(new BundleManifest { Training = { ["i"] = i.ToString() } },
                dir => File.WriteAllText(Path.Combine(dir, "payload.bin"), $"payload {i}"), DateTimeOffset.UnixEpoch.AddDays(i));
            versions.Add(m.ModelVersion);
            Assert.Equal(m.ModelVersion, store.CurrentVersion());
            var read = BundleManifest.Read(store.PathOf(m.ModelVersion));
            Assert.Equal(i.ToString(), read.Training["i"]);
            Assert.Single(read.Files);
            read.VerifyFiles(store.PathOf(m.ModelVersion), checksums: true);
        }
        Assert.Equal(versions.Order(StringComparer.Ordinal), versions);

        // A writer that fails leaves no version and CURRENT where it was.
        Assert.Throws<IOException>(() => store.Publish(new BundleManifest(), _ => throw new IOException("disk full")));
        Assert.Equal(versions[^1], store.CurrentVersion());
        Assert.Equal(versions, store.Versions());
        Assert.Empty(Directory.EnumerateDirectories(store.Root, ".staging-*"));

        // Pointing CURRENT at an old version, then pruning, never removes the current one.
        store.SetCurrent(versions[0]);
        var removed = store.Prune(keep: 2);
        Assert.Equal([versions[1]], removed);
        Assert.Equal([versions[0], versions[2], versions[3]], store.Versions());
    }

    [Fact]
    public void Manifest_verification_names_the_damaged_file()
    {
        var store = new BundleStore(PathOf("models"));
        var m = store.Publish(new BundleManifest(), dir => File.WriteAllBytes(Path.Combine(dir, "data.bin"), new byte[4096]));
        var dir = store.PathOf(m.ModelVersion);
        SmallBundle.MakeWritable(Path.Combine(dir, "data.bin")); // published files are read-only
        using (var f = new FileStream(Path.Combine(dir, "data.bin"), FileMode.Open)) { f.Position = 100; f.WriteByte(1); }
        var manifest = BundleManifest.Read(dir);
        manifest.VerifyFiles(dir, checksums: false); // same size: only the checksum sees it
        var error = Assert.Throws<InvalidDataException>(() => manifest.VerifyFiles(dir, checksums: true));
        Assert.Contains("data.bin: checksum mismatch", error.Message);
        File.Delete(Path.Combine(dir, "data.bin"));
        Assert.Contains("missing", Assert.Throws<InvalidDataException>(() => manifest.VerifyFiles(dir, checksums: false)).Message);
    }

    [Fact]
    public void Current_file_with_garbage_is_reported()
    {
        var store = new BundleStore(PathOf("models"));
        Directory.CreateDirectory(store.Root);
        File.WriteAllText(Path.Combine(store.Root, BundleStore.CurrentFileName), "../../etc\n");
        Assert.Throws<InvalidDataException>(() => store.CurrentVersion());
    }
}
