using System.CommandLine;
using System.Diagnostics;
using RecService.Synthetic;

namespace RecService.Cli.Commands;

/// <summary><c>rec generate</c>: writes a seeded sample music world (snapshots, catalog, genre ground truth).</summary>
public static class GenerateCommand
{
    public static Command Create()
    {
        var defaults = new SampleWorldOptions();
        var output = new Option<string>("--out") { Description = "Output directory", DefaultValueFactory = _ => "world" };
        var users = new Option<int>("--users") { Description = "Number of users", DefaultValueFactory = _ => defaults.Users };
        var artists = new Option<int>("--artists") { Description = "Number of artists", DefaultValueFactory = _ => defaults.Artists };
        var tracks = new Option<int>("--tracks") { Description = "Number of tracks", DefaultValueFactory = _ => defaults.Tracks };
        var plays = new Option<long>("--plays") { Description = "Total plays (0 = 40 per user)", DefaultValueFactory = _ => 0 };
        var days = new Option<int>("--days") { Description = "Daily snapshots to spread plays over", DefaultValueFactory = _ => defaults.Days };
        var genres = new Option<int>("--genres") { Description = "Number of genres", DefaultValueFactory = _ => defaults.Genres };
        var seed = new Option<ulong>("--seed") { Description = "Random seed (same seed, same world)", DefaultValueFactory = _ => defaults.Seed };
        var gzip = new Option<bool>("--gzip") { Description = "Write snapshots as .tsv.gz" };
        var events = new Option<bool>("--events") { Description = "Write one row per play with its unix time (a fourth column), in listening sessions, instead of daily counts" };
        var playlists = new Option<int>("--playlists") { Description = "Playlists to write into playlists/playlists.tsv (-1 = one per four users, 0 = none)", DefaultValueFactory = _ => -1 };
        var noTags = new Option<bool>("--no-tags") { Description = "Do not write catalog/artist_tags.tsv" };
        var skipExisting = new Option<bool>("--skip-existing") { Description = "Do nothing if the output already holds snapshots (so a restart does not rewrite them and trigger retraining)" };

        var command = new Command("generate", "Generate a sample music world: daily play snapshots (or timestamped play events), a catalog, artist genres, playlists and artist tags.")
        {
            output, users, artists, tracks, plays, days, genres, seed, gzip, events, playlists, noTags, skipExisting,
        };
        command.SetAction(parse =>
        {
            var options = new SampleWorldOptions
            {
                Users = parse.GetValue(users),
                Artists = parse.GetValue(artists),
                Tracks = parse.GetValue(tracks),
                Plays = parse.GetValue(plays),
                Days = parse.GetValue(days),
                Genres = parse.GetValue(genres),
                Seed = parse.GetValue(seed),
                Gzip = parse.GetValue(gzip),
                Events = parse.GetValue(events),
                PlaylistCount = parse.GetValue(playlists),
                Tags = !parse.GetValue(noTags),
            };
            var dir = parse.GetValue(output)!;
            if (parse.GetValue(skipExisting) && Directory.Exists(Path.Combine(dir, "snapshots")) && Directory.EnumerateFileSystemEntries(Path.Combine(dir, "snapshots")).Any())
            {
                Console.WriteLine($"{dir}/snapshots already exists; nothing generated (--skip-existing).");
                return 0;
            }
            var clock = Stopwatch.StartNew();
            var result = SampleWorldGenerator.Generate(options, dir);
            Console.WriteLine($"Generated {options.Users} users, {options.Artists} artists, {options.Tracks} tracks over {options.Days} days in {clock.Elapsed.TotalSeconds:F2} s");
            Console.WriteLine($"  {result.Rows} rows, {result.Plays} plays, {result.DistinctPairs} distinct (user, track) pairs");
            Console.WriteLine($"  snapshots: {result.SnapshotsDirectory}");
            Console.WriteLine($"  catalog:   {result.CatalogDirectory}");
            Console.WriteLine($"  genres:    {result.GenresFile}");
            if (result.PlaylistsFile is not null) Console.WriteLine($"  playlists: {result.PlaylistsFile} ({result.Playlists} playlists)");
            if (result.TagsFile is not null) Console.WriteLine($"  tags:      {result.TagsFile} ({result.TagRows} rows)");
            return 0;
        });
        return command;
    }
}
