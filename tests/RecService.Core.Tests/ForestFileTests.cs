using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Core.Tests;

/// <summary>A damaged or truncated file is refused with <see cref="InvalidDataException"/> and never crashes the process.</summary>
public sealed class ForestFileTests : IDisposable
{
    private readonly string _path = TestData.TempPath("file.idx");
    private readonly string _damaged = TestData.TempPath("damaged.idx");
    private const int Count = 1500;

    public ForestFileTests() =>
        ForestBuilder.Build(TestData.Items.AsSpan(0, Count * TestData.Dims), Count, TestData.Dims,
            new ForestOptions { Metric = Metric.Dot, Trees = 3, LeafSize = 16, Seed = 3 }, _path);

    public void Dispose()
    {
        File.Delete(_path);
        File.Delete(_damaged);
    }

    /// <summary>Opens, verifies and queries; returns "open", "verify", "query" for the stage that refused the file, or "ok".
    /// Any exception other than InvalidDataException fails the test.</summary>
    private static string Exercise(string path)
    {
        ForestIndex index;
        try { index = ForestIndex.Open(path); }
        catch (InvalidDataException) { return "open"; }
        using (index)
        {
            var ids = new int[10];
            var scores = new float[10];
            bool queryRefused = false;
            try
            {
                // Queries run before Verify: the unverified path must be safe on its own.
                for (int q = 0; q < 20; q++) index.Search(TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims), 10, ids, scores, 300, [1, 2, 3]);
                index.SearchByItem(5, 10, ids, scores);
                foreach (int id in ids) Assert.InRange(id, 0, Count - 1);
            }
            catch (InvalidDataException) { queryRefused = true; }
            try { index.Verify(); }
            catch (InvalidDataException) { return queryRefused ? "query" : "verify"; }
            Assert.False(queryRefused, "a query refused a file that Verify accepts");
            return "ok";
        }
    }

    [Fact]
    public void Intact_file_opens_and_verifies()
    {
        Assert.Equal("ok", Exercise(_path));
        using var index = ForestIndex.Open(_path);
        Assert.Equal(new FileInfo(_path).Length, index.FileBytes);
    }

    [Fact]
    public void Every_truncation_is_refused_at_open()
    {
        var bytes = File.ReadAllBytes(_path);
        foreach (int length in new[] { 0, 1, 100, 255, 256, 257, 4096, bytes.Length / 2, bytes.Length - 64, bytes.Length - 1 })
        {
            File.WriteAllBytes(_damaged, bytes[..length]);
            var ex = Assert.Throws<InvalidDataException>(() => ForestIndex.Open(_damaged).Dispose());
            Assert.Contains(_damaged, ex.Message);
        }
        File.WriteAllBytes(_damaged, [.. bytes, 0]);
        Assert.Throws<InvalidDataException>(() => ForestIndex.Open(_damaged).Dispose());
    }

    [Fact]
    public void Random_byte_flips_are_refused_and_never_crash()
    {
        var bytes = File.ReadAllBytes(_path);
        var rng = new Random(2024);
        var stages = new Dictionary<string, int>();
        for (int trial = 0; trial < 300; trial++)
        {
            var copy = (byte[])bytes.Clone();
            // A third of the trials hit the header, the rest anywhere; 1-4 bytes each.
            int flips = 1 + rng.Next(4);
            for (int f = 0; f < flips; f++)
            {
                int at = trial % 3 == 0 ? rng.Next(ForestHeader.Size) : rng.Next(copy.Length);
                copy[at] ^= (byte)(1 + rng.Next(255));
            }
            File.WriteAllBytes(_damaged, copy);
            string stage = Exercise(_damaged);
            Assert.NotEqual("ok", stage); // every damaged byte is covered by the header or body checksum
            stages[stage] = stages.GetValueOrDefault(stage) + 1;
        }
        Assert.True(stages.GetValueOrDefault("open") >= 100, "header damage must be refused at open");
    }

    /// <summary>Rewrites a section with <paramref name="rewrite"/> and fixes both checksums, so only the per-use bounds
    /// checks stand between the damaged structure and an out-of-bounds read or an endless descent.</summary>
    private void WriteForged(ForestSection section, Action<Span<byte>, ForestHeader> rewrite)
    {
        var bytes = File.ReadAllBytes(_path);
        var header = System.Runtime.InteropServices.MemoryMarshal.Read<ForestHeader>(bytes);
        rewrite(bytes.AsSpan((int)header.SectionOffset(section), (int)header.SectionLength(section)), header);
        header.BodyCrc = Crc32C.Append(0, bytes.AsSpan(ForestHeader.Size));
        header.HeaderCrc = Crc32C.HeaderCrc(header);
        System.Runtime.InteropServices.MemoryMarshal.Write(bytes, in header);
        File.WriteAllBytes(_damaged, bytes);
    }

    [Fact]
    public void Unknown_flags_and_a_vectors_section_that_contradicts_them_are_refused_at_open()
    {
        void Forge(Func<ForestHeader, ForestHeader> change)
        {
            var bytes = File.ReadAllBytes(_path);
            var header = change(System.Runtime.InteropServices.MemoryMarshal.Read<ForestHeader>(bytes));
            header.HeaderCrc = Crc32C.HeaderCrc(header);
            System.Runtime.InteropServices.MemoryMarshal.Write(bytes, in header);
            File.WriteAllBytes(_damaged, bytes);
        }
        Forge(h => { h.Flags = 2; return h; });
        Assert.Contains("unknown flags", Assert.Throws<InvalidDataException>(() => ForestIndex.Open(_damaged).Dispose()).Message);
        // External vectors announced while the file still holds them: the Vectors section has the wrong length.
        Forge(h => { h.Flags = ForestHeader.ExternalVectorsFlag; return h; });
        Assert.Contains("section Vectors", Assert.Throws<InvalidDataException>(() => ForestIndex.Open(_damaged).Dispose()).Message);
    }

    [Fact]
    public void Forged_slots_out_of_range_are_refused_at_query_time()
    {
        WriteForged(ForestSection.LeafSlots, (span, _) =>
        {
            for (int p = 0; p + 4 <= span.Length; p += 4) BitConverter.TryWriteBytes(span[p..], int.MaxValue - 7);
        });
        Assert.Equal("query", Exercise(_damaged));
    }

    [Fact]
    public void A_query_refused_mid_scan_leaves_the_thread_clean_for_other_indexes()
    {
        // Forge every 7th slot of every tree, so a query marks some items visited before it meets a bad one: a tree
        // walk in a leaf, a full scan (one pass over tree 0) six items in.
        WriteForged(ForestSection.LeafSlots, (span, _) =>
        {
            for (int p = 6; (p + 1) * 4 <= span.Length; p += 7) BitConverter.TryWriteBytes(span[(p * 4)..], -3);
        });
        using var good = ForestIndex.Open(_path);
        using var bad = ForestIndex.Open(_damaged);
        var exact = new ExactSearch(TestData.Items[..(Count * TestData.Dims)], Count, TestData.Dims, Metric.Dot);
        var ids = new int[10];
        var expected = new int[10];
        int refused = 0;
        for (int q = 0; q < 20; q++)
        {
            var query = TestData.QueryVectors.AsSpan(q * TestData.Dims, TestData.Dims);
            try { bad.Search(query, 10, ids, new float[10], q % 2 == 0 ? Count : Count / 2); }
            catch (InvalidDataException) { refused++; }
            good.Search(query, 10, ids, new float[10], Count); // scans everything: must be exact if no stale bits remain
            exact.Search(query, 10, expected, new float[10]);
            Assert.Equal(expected, ids);
        }
        Assert.Equal(20, refused);
    }

    [Fact]
    public void Forged_cycles_and_bad_leaves_in_the_trees_are_refused_at_query_time()
    {
        // Every child points back at node 0 (a cycle) ...
        WriteForged(ForestSection.Nodes, (span, h) =>
        {
            int stride = ForestHeader.NodeStride((int)h.PaddedDimensions);
            for (int n = 0; n + stride <= span.Length; n += stride)
            {
                BitConverter.TryWriteBytes(span[(n + stride - 8)..], 0);
                BitConverter.TryWriteBytes(span[(n + stride - 4)..], 0);
            }
        });
        Assert.Equal("query", Exercise(_damaged));
        // ... or leaves claim ranges past the end of LeafSlots.
        WriteForged(ForestSection.Leaves, (span, _) =>
        {
            for (int p = 0; p + 8 <= span.Length; p += 8) BitConverter.TryWriteBytes(span[(p + 4)..], int.MaxValue);
        });
        Assert.Equal("query", Exercise(_damaged));
    }

    [Fact]
    public void Other_files_are_refused_with_a_clear_message()
    {
        File.WriteAllBytes(_damaged, new byte[4096]);
        var ex = Assert.Throws<InvalidDataException>(() => ForestIndex.Open(_damaged).Dispose());
        Assert.Contains("bad magic", ex.Message);
    }

    [Fact]
    public void Failed_build_leaves_no_file_under_the_final_name()
    {
        string target = TestData.TempPath("never.idx");
        var bad = TestData.Items[..(10 * TestData.Dims)];
        bad[5] = float.NaN;
        Assert.Throws<ArgumentException>(() => ForestBuilder.Build(bad, 10, TestData.Dims, new ForestOptions(), target));
        Assert.False(File.Exists(target));
    }
}
