using RecService.Core.Bundle;
using RecService.Core.Sparse;

namespace RecService.Core.Tests;

/// <summary>A part of sparse matrices only (as tag parts are): written, mapped back row by row, and refused whole when a
/// value is not finite or the shape does not fit its items.</summary>
public sealed class SparsePartTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "recservice-tests", "sparse-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }

    private static PartContent TagPart(int artists, int rows) => new()
    {
        Name = "tags",
        Family = "test-tags",
        Items = IdSpaces.Artists,
        Sparse = new Dictionary<string, CsrMatrix>
        {
            ["weights"] = CsrMatrix.FromTriples(rows, 5, [0, 0, 3], [1, 4, 2], [0.6f, 0.8f, 1f]),
        },
    };

    private string Publish(PartContent part)
    {
        var content = SmallBundle.Content();
        var store = new BundleStore(_dir);
        var manifest = store.Publish(new BundleManifest(), content with { Parts = [.. content.Parts, part] }, new BundleForestOptions { Threads = 1 });
        return store.PathOf(manifest.ModelVersion);
    }

    [Fact]
    public void A_sparse_part_round_trips_through_the_mapped_bundle()
    {
        var directory = Publish(TagPart(SmallBundle.Artists, SmallBundle.Artists));
        using var bundle = ModelBundle.Open(directory);
        var part = bundle.Part("tags");
        Assert.Empty(part.Matrices);
        var weights = part.SparseMatrix("weights");
        Assert.Equal((SmallBundle.Artists, 5), (weights.Rows, weights.Columns));
        Assert.Equal([1, 4], weights.RowIndices(0).ToArray());
        Assert.Equal([0.6f, 0.8f], weights.RowValues(0).ToArray());
        Assert.Empty(weights.RowIndices(1).ToArray());
        Assert.Equal([2], weights.RowIndices(3).ToArray());
        Assert.Contains("tags.weights.csr", bundle.Manifest.Files.Select(f => f.Name));
    }

    [Fact]
    public void A_sparse_matrix_whose_rows_do_not_match_its_items_is_refused_by_the_writer()
    {
        var error = Assert.Throws<ArgumentException>(() => Publish(TagPart(SmallBundle.Artists, SmallBundle.Artists - 1)));
        Assert.Contains("sparse weights", error.Message);
    }

    [Fact]
    public void A_non_finite_sparse_value_is_refused_at_open_naming_the_file()
    {
        var directory = Publish(TagPart(SmallBundle.Artists, SmallBundle.Artists));
        var file = Path.Combine(directory, "tags.weights.csr");
        // The last value of the file's VALS section is the last non-zero: overwrite it with NaN and re-sign the manifest.
        var bytes = File.ReadAllBytes(file);
        var at = IndexOfFloat(bytes, 1f);
        BitConverter.TryWriteBytes(bytes.AsSpan(at), float.NaN);
        SmallBundle.MakeWritable(file);
        File.WriteAllBytes(file, bytes);
        SmallBundle.Resign(directory, "tags.weights.csr");
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(directory));
        Assert.Contains("tags.weights.csr", error.Message);
        Assert.Contains("NaN", error.Message);
    }

    private static int IndexOfFloat(byte[] bytes, float value)
    {
        var pattern = BitConverter.GetBytes(value);
        for (var i = bytes.Length - 4; i >= 0; i--)
            if (bytes.AsSpan(i, 4).SequenceEqual(pattern)) return i;
        throw new InvalidOperationException("value not found");
    }
}
