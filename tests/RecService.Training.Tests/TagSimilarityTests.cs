using RecService.Core.Sparse;
using RecService.Training.Tags;

namespace RecService.Training.Tests;

public class TagSimilarityTests
{
    // Tags: 0 "jazz", 1 "bebop", 2 "rock", 3 "grunge", 4 "seen live" (on everyone).
    private static CsrMatrix Applied() => CsrMatrix.FromTriples(6, 5,
        [0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4],
        [0, 1, 4, 0, 1, 4, 0, 4, 2, 3, 4, 2, 4],
        [50, 20, 90, 40, 10, 5, 3, 80, 60, 30, 70, 9, 100]);

    [Fact]
    public void Rows_are_unit_length_and_a_tag_on_every_item_weighs_almost_nothing()
    {
        var w = TagSimilarity.Weigh(Applied());
        for (var i = 0; i < 5; i++)
            Assert.Equal(1f, MathF.Sqrt(w.RowValues(i).ToArray().Sum(v => v * v)), 1e-5f);
        Assert.Empty(w.RowIndices(5).ToArray()); // untagged
        Assert.True(w.Get(0, 4) < 0.01f, $"'seen live' weight {w.Get(0, 4)}");
    }

    [Fact]
    public void Items_sharing_distinctive_tags_are_nearest()
    {
        var w = TagSimilarity.Weigh(Applied());
        Assert.True(TagSimilarity.Cosine(w, 0, 1) > 0.9f);
        Assert.True(TagSimilarity.Cosine(w, 0, 3) < 0.01f); // only "seen live" in common
        Assert.Equal(0f, TagSimilarity.Cosine(w, 0, 5));
        var near = TagSimilarity.Nearest(w, k: 2, threads: 1);
        Assert.Equal(1, near.RowIndices(0)[0]);
        Assert.Equal(2, near.RowIndices(0)[1]);
        Assert.Equal(4, near.RowIndices(3)[0]);
        Assert.Empty(near.RowIndices(5).ToArray());
        // Scores are the cosines, best first.
        Assert.Equal(TagSimilarity.Cosine(w, 0, 1), near.RowValues(0)[0], 1e-5f);
        Assert.True(near.RowValues(0)[0] >= near.RowValues(0)[1]);
        Assert.DoesNotContain(0, near.RowIndices(0).ToArray());
    }
}

public class GeneratedTagSimilarityTests
{
    [Fact]
    public void On_a_generated_world_the_nearest_artists_by_tags_share_the_genre()
    {
        var dir = Path.Combine(Path.GetTempPath(), "recservice-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var world = RecService.Synthetic.SampleWorldGenerator.Generate(new RecService.Synthetic.SampleWorldOptions { Users = 500, Artists = 400, Tracks = 1200, Genres = 8, Seed = 5 }, dir);
            var catalog = RecService.Ingest.Catalog.TrackCatalog.Load(world.CatalogDirectory);
            var tags = RecService.Ingest.Catalog.ArtistTags.Load(world.TagsFile!, catalog);
            Assert.Equal(0, tags.BadRows);
            Assert.Equal(world.TagRows, tags.Rows);
            var genre = File.ReadLines(world.GenresFile).Skip(1).Select(l => l.Split('\t')).ToDictionary(f => f[0], f => f[1]);
            var near = TagSimilarity.Nearest(TagSimilarity.Weigh(tags.Applied), k: 5);
            long same = 0, all = 0;
            for (var a = 0; a < catalog.ArtistCount; a++)
                foreach (var b in near.RowIndices(a))
                {
                    all++;
                    if (genre[catalog.Artists[a]] == genre[catalog.Artists[b]]) same++;
                }
            // Tags are sparse and one genre tag in twelve is wrong, yet the subgenre tags keep neighbours in the genre
            // (chance is about 1/8).
            Assert.True(all > 1000, $"{all} neighbour pairs");
            Assert.True(same >= 0.85 * all, $"same genre: {same} of {all}");
        }
        finally
        {
            try { Directory.Delete(dir, recursive: true); } catch (IOException) { }
        }
    }
}
