using RecService.Core.Bundle;
using RecService.Training.Pipeline;

namespace RecService.Training.Tests;

public class TrainingJobInputTests
{
    [Theory]
    [InlineData("u1\tt1\t0\nu2\tt2\t0\n")] // all-zero plays
    [InlineData("user_id\ttrack_id\tplays\n")] // an empty window: the snapshot holds no rows
    public async Task A_window_with_no_plays_is_refused_before_anything_is_published(string plays)
    {
        var root = Path.Combine(Path.GetTempPath(), "recservice-tests", Guid.NewGuid().ToString("N"));
        try
        {
            var catalog = Path.Combine(root, "catalog");
            Directory.CreateDirectory(catalog);
            await File.WriteAllTextAsync(Path.Combine(catalog, "artists.tsv"), "artist_id\tname\nA\tArtist A\n");
            await File.WriteAllTextAsync(Path.Combine(catalog, "tracks.tsv"), "track_id\tartist_id\ttitle\nt1\tA\tOne\nt2\tA\tTwo\n");
            var snapshot = Path.Combine(root, "snapshots", "2026-11-01");
            Directory.CreateDirectory(snapshot);
            await File.WriteAllTextAsync(Path.Combine(snapshot, "plays.tsv"), plays);
            var job = new TrainingJob(new TrainingJobOptions
            {
                SnapshotsDirectory = Path.Combine(root, "snapshots"),
                CatalogDirectory = catalog,
                HoldoutFraction = 0,
                Tracks = new() { Factors = 4, Iterations = 1 },
                Artists = new() { Factors = 4, Iterations = 1 },
            });
            var store = new BundleStore(Path.Combine(root, "models"));

            var error = await Assert.ThrowsAsync<InvalidDataException>(async () => job.Publish(await job.RunAsync(), store));
            Assert.Contains("no plays", error.Message);
            Assert.Contains("refusing", error.Message);
            Assert.Null(store.CurrentVersion());
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
