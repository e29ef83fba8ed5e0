using System.Diagnostics;
using RecService.Ingest.Catalog;

namespace RecService.Ingest.Tests;

public class ArtistTagsTests
{
    private static TrackCatalog Catalog()
    {
        var catalog = new TrackCatalog();
        catalog.AddArtist("a1", "Miles");
        catalog.AddArtist("a2", "Metallica");
        catalog.AddArtist("a3", "Untagged");
        return catalog;
    }

    [Fact]
    public void Reads_tags_merging_case_and_repeats_into_an_artists_by_tags_matrix()
    {
        using var dir = new TempDirectory();
        var path = dir.File("artist_tags.tsv", "\uFEFFartist_id\ttag\tweight\na1\tJazz\t40\na1\tbebop\t10\r\na1\tjazz \t2\na2\tthrash metal\t30\n\na2\tjazz\t1\n");
        var tags = ArtistTags.Load(path, Catalog());
        Assert.Equal(0, tags.BadRows);
        Assert.Equal(5, tags.Rows);
        Assert.Equal(["jazz", "bebop", "thrash metal"], tags.Tags.Ids);
        Assert.Equal(3, tags.Applied.Rows);
        Assert.Equal(42f, tags.Applied.Get(0, 0));
        Assert.Equal(10f, tags.Applied.Get(0, 1));
        Assert.Equal(30f, tags.Applied.Get(1, 2));
        Assert.Equal(1f, tags.Applied.Get(1, 0));
        Assert.Equal(0, tags.Applied.RowLength(2));
    }

    [Fact]
    public void Bad_rows_are_counted_with_file_and_line_and_do_not_stop_the_read()
    {
        using var dir = new TempDirectory();
        var longLine = "a1\t" + new string('x', ArtistTags.MaxLineChars + 10) + "\t1";
        var path = dir.File("artist_tags.tsv", string.Join('\n',
            "a1\tjazz\t5",          // 1 good
            "a9\tjazz\t5",          // 2 unknown artist
            "a1\tjazz",             // 3 missing field
            "a1\tjazz\t0",          // 4 weight not positive
            "a1\tjazz\tNaN",        // 5
            "a1\tjazz\t1e9",        // 6 absurd
            "a1\tja\u001bzz\t3",    // 7 control character
            "a1\t \t3",             // 8 empty tag
            longLine,               // 9 too long
            "a2\tmetal\t7"));       // 10 good
        var tags = ArtistTags.Load(path, Catalog());
        Assert.Equal(10, tags.Rows);
        Assert.Equal(8, tags.BadRows);
        Assert.Equal(["jazz", "metal"], tags.Tags.Ids);
        Assert.Contains(tags.Examples, e => e.StartsWith($"{path}:2: artist not in the catalog"));
        Assert.Contains(tags.Examples, e => e.StartsWith($"{path}:3: missing field"));
        Assert.Contains(tags.Examples, e => e.StartsWith($"{path}:9: line of"));
        Assert.All(tags.Examples, e => Assert.DoesNotContain(e, char.IsControl));
    }

    [Fact]
    public void A_fifo_is_refused_by_name_without_blocking()
    {
        if (!OperatingSystem.IsLinux()) return;
        using var dir = new TempDirectory();
        var fifo = Path.Combine(dir.Path, "artist_tags.tsv");
        using (var mk = Process.Start("mkfifo", fifo)) mk.WaitForExit();
        var error = Assert.Throws<InvalidDataException>(() => ArtistTags.Load(fifo, Catalog()));
        Assert.Contains(fifo, error.Message);
        Assert.Contains("FIFO", error.Message);
    }
}
