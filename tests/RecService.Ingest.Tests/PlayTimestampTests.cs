using Parquet;
using Parquet.Schema;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;
using RecService.Synthetic;

namespace RecService.Ingest.Tests;

/// <summary>The play's time (a fourth TSV column, a Parquet <c>timestamp</c>): sessions, and recency weighting.</summary>
public class PlayTimestampTests
{
    private const long Nov1 = 1_793_491_200; // 2026-11-01T00:00:00Z

    private static async Task<PlayMatrices> ReadAsync(string root, PlayReadOptions? options = null, TrackCatalog? catalog = null) =>
        await SnapshotSet.Discover(root).ReadAsync(null, catalog, options ?? new PlayReadOptions(), default);

    private static List<int[]> SessionsOf(PlayMatrices m, string user)
    {
        var s = m.Sessions!;
        var u = m.Users.Ids.ToList().IndexOf(user);
        return Enumerable.Range(0, s.Count).Where(i => s.Users[i] == u).Select(i => s[i].ToArray()).ToList();
    }

    private static int Track(PlayMatrices m, string id) => m.Tracks.TryGet(id, out var t) ? t : -1;

    [Fact]
    public async Task Unix_seconds_and_iso_8601_times_are_read_and_each_users_plays_cut_at_the_gap()
    {
        using var dir = new TempDirectory();
        dir.File("2026-11-01/plays.tsv", string.Join("\n",
            "user_id\ttrack_id\tplays\ttimestamp",
            $"alice\tt3\t1\t{Nov1 + 600}",          // 00:10
            "alice\tt1\t1\t2026-11-01T00:00:00Z",    // 00:00
            "alice\tt2\t1\t2026-11-01T02:05:00+02:00", // 00:05 UTC
            $"alice\tt4\t1\t{Nov1 + 600 + 1801}",   // 30 min 1 s after t3: a new session
            $"alice\tt5\t1\t{Nov1 + 600 + 1801 + 1800}\textra", // exactly 30 min: the same session; later columns ignored
            "bob\tt1\t2\t2026-11-01T00:00:00.750Z",  // another user: his own session
            "carol\tt9\t1") + "\n");                  // no time: in the matrices, in no session
        var m = await ReadAsync(dir.Path);

        Assert.Equal(0, m.Report.BadRows);
        var t = (string id) => Track(m, id);
        Assert.Equal([new[] { t("t1"), t("t2"), t("t3") }, new[] { t("t4"), t("t5") }], SessionsOf(m, "alice"));
        Assert.Equal([new[] { t("t1") }], SessionsOf(m, "bob"));
        Assert.Empty(SessionsOf(m, "carol"));
        Assert.Equal(m.Sessions!.Count + 1, m.Sessions.Offsets.Length);
        Assert.Equal(6, m.Sessions.Offsets[^1]);
        Assert.Equal(2f, m.UserTrack.Get(m.Users.Ids.ToList().IndexOf("bob"), t("t1")));

        // A gap of two hours keeps alice's plays in one session.
        var wide = await ReadAsync(dir.Path, new PlayReadOptions { SessionGap = TimeSpan.FromHours(2) });
        Assert.Equal([new[] { t("t1"), t("t2"), t("t3"), t("t4"), t("t5") }], SessionsOf(wide, "alice"));
    }

    [Fact]
    public async Task A_bad_time_is_a_bad_row_with_file_and_line_and_no_times_means_no_sessions()
    {
        using var dir = new TempDirectory();
        var path = dir.File("2026-11-01/plays.tsv", string.Join("\n",
            $"u1\tt1\t1\t{Nov1}",
            "u1\tt1\t1\t2026-11-01T10:00:00",   // 2: no zone
            "u1\tt1\t1\tyesterday",             // 3
            "u1\tt1\t1\t-5",                    // 4: before 1970
            $"u1\tt1\t1\t{Nov1 * 1000}",        // 5: milliseconds
            "u1\tt1\t1\t2026-13-01T00:00:00Z") + "\n"); // 6: no 13th month
        var m = await ReadAsync(dir.Path, new PlayReadOptions { MaxBadFraction = 1 });
        Assert.Equal(5, m.Report.BadRowsFor(BadRowReason.BadTimestamp));
        Assert.Equal(1, m.Report.RowsKept);
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:2: timestamp is neither unix seconds nor ISO 8601") && e.EndsWith("2026-11-01T10:00:00"));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{path}:5: timestamp"));
        Assert.Equal(1, m.Sessions!.Count);

        using var plain = new TempDirectory();
        plain.File("2026-11-01/plays.tsv", "u1\tt1\t3\nu2\tt1\n");
        Assert.Null((await ReadAsync(plain.Path)).Sessions);
    }

    [Fact]
    public async Task Parquet_times_are_read_from_timestamp_strings_and_parquet_timestamps()
    {
        using var dir = new TempDirectory();
        Directory.CreateDirectory(Path.Combine(dir.Path, "2026-11-01"));
        var strings = Path.Combine(dir.Path, "2026-11-01", "a.parquet");
        await ParquetPlayLogReader.WriteAsync(strings, RowLayout.Plays, ["u1", "u1", "u1", "u2"], ["t2", "t1", "t3", "t1"], new[] { 1, 1, 1, 1 },
            ["2026-11-01T00:20:00Z", $"{Nov1}", "2026-11-01T05:00:00Z", "soon"]);
        var typed = Path.Combine(dir.Path, "2026-11-01", "b.parquet");
        var user = new DataField<string>(ParquetPlayLogReader.UserColumn);
        var track = new DataField<string>(ParquetPlayLogReader.TrackColumn);
        var time = new DataField<DateTime>(ParquetPlayLogReader.TimestampColumn);
        await using (var stream = File.Create(typed))
        await using (var writer = await ParquetWriter.CreateAsync(new ParquetSchema(user, track, time), stream))
        using (var group = writer.CreateRowGroup())
        {
            await group.WriteAsync(user, new[] { "u3", "u3" }, null);
            await group.WriteAsync(track, new[] { "t1", "t2" }, null);
            await group.WriteAsync(time, (ReadOnlyMemory<DateTime>)new[] { new DateTime(2026, 11, 1, 9, 0, 0, DateTimeKind.Utc), new DateTime(2026, 11, 1, 8, 50, 0, DateTimeKind.Utc) }, null, null);
        }
        var m = await ReadAsync(dir.Path, new PlayReadOptions { MaxBadFraction = 1 });

        Assert.Equal(1, m.Report.BadRowsFor(BadRowReason.BadTimestamp));
        Assert.Contains(m.Report.Examples, e => e.StartsWith($"{strings}:4: timestamp") && e.EndsWith("soon"));
        Assert.Equal([new[] { Track(m, "t1"), Track(m, "t2") }, new[] { Track(m, "t3") }], SessionsOf(m, "u1"));
        Assert.Equal([new[] { Track(m, "t2"), Track(m, "t1") }], SessionsOf(m, "u3"));
    }

    [Fact]
    public async Task A_generated_event_worlds_sessions_are_its_gaps_and_its_matrices_those_of_daily_counts()
    {
        var options = new SampleWorldOptions { Users = 300, Artists = 60, Tracks = 400, Days = 2, Genres = 4, Seed = 5, PlaylistCount = 0, Tags = false };
        using var countsDir = new TempDirectory();
        var counts = SampleWorldGenerator.Generate(options, countsDir.Path);
        using var eventsDir = new TempDirectory();
        var events = SampleWorldGenerator.Generate(options with { Events = true }, eventsDir.Path);
        var catalog = TrackCatalog.Load(events.CatalogDirectory);
        var m = await ReadAsync(events.SnapshotsDirectory, catalog: catalog);
        var daily = await ReadAsync(counts.SnapshotsDirectory, catalog: catalog);

        // Timestamps leave the sums alone.
        Assert.Null(daily.Sessions);
        Assert.Equal(daily.Users.Ids, m.Users.Ids);
        Assert.Equal(daily.UserTrack.RowPointers, m.UserTrack.RowPointers);
        Assert.Equal(daily.UserTrack.ColumnIndices, m.UserTrack.ColumnIndices);
        Assert.Equal(daily.UserTrack.Values, m.UserTrack.Values);

        // Sessions, recomputed from the raw rows: each user's plays by time, cut where the gap passes 30 minutes.
        var rows = Directory.EnumerateFiles(events.SnapshotsDirectory, "*.tsv", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .SelectMany(File.ReadLines).Select(l => l.Split('\t')).ToList();
        var expected = new List<(string User, List<string> Tracks)>();
        foreach (var user in rows.GroupBy(r => r[0]))
        {
            long last = long.MinValue;
            foreach (var r in user.OrderBy(r => long.Parse(r[3]))) // OrderBy is stable: ties in file order
            {
                var at = long.Parse(r[3]);
                if (last == long.MinValue || at - last > 30 * 60) expected.Add((user.Key, []));
                expected[^1].Tracks.Add(r[1]);
                last = at;
            }
        }
        var s = m.Sessions!;
        var actual = Enumerable.Range(0, s.Count).Select(i => (User: m.Users[s.Users[i]], Tracks: s[i].ToArray().Select(t => m.Tracks[t]).ToList())).ToList();
        Assert.True(expected.Count > 2 * options.Users, $"{expected.Count} sessions");
        Assert.Equal(expected.Count, actual.Count);
        var byUser = (IEnumerable<(string User, List<string> Tracks)> list) => list.OrderBy(x => x.User, StringComparer.Ordinal).SelectMany(x => x.Tracks.Prepend("|" + x.User));
        Assert.Equal(byUser(expected), byUser(actual));
    }

    [Fact]
    public async Task Recency_weights_plays_by_the_age_of_their_snapshot_or_their_time()
    {
        using var dir = new TempDirectory();
        dir.File("2026-11-01/plays.tsv", "u1\tt1\t4\nu1\tt2\t4\n");
        dir.File("2026-11-03/plays.tsv", "u1\tt1\t4\n");
        var off = await ReadAsync(dir.Path);
        Assert.Equal(8f, off.UserTrack.Get(0, 0));
        var halved = await ReadAsync(dir.Path, new PlayReadOptions { RecencyHalfLifeDays = 2 });
        Assert.Equal(4f + 2f, halved.UserTrack.Get(0, 0), 4);  // two days old: half
        Assert.Equal(2f, halved.UserTrack.Get(0, 1), 4);
        var quarter = await ReadAsync(dir.Path, new PlayReadOptions { RecencyHalfLifeDays = 1 });
        Assert.Equal(4f + 1f, quarter.UserTrack.Get(0, 0), 4);
        Assert.Equal(12, quarter.Report.PlaysKept); // the report counts plays as read

        // Timestamped rows: by their time's age from the newest time (6 h = a quarter day), whatever their snapshot.
        using var timed = new TempDirectory();
        timed.File("2026-11-01/plays.tsv", $"u1\tt1\t2\t{Nov1}\nu1\tt2\t1\t{Nov1 + 6 * 3600}\n");
        timed.File("2026-11-02/plays.tsv", $"u1\tt3\t1\t{Nov1 + 12 * 3600}\nu2\tt3\t3\n");
        var m = await ReadAsync(timed.Path, new PlayReadOptions { RecencyHalfLifeDays = 0.25 });
        Assert.Equal(2f * 0.25f, m.UserTrack.Get(0, Track(m, "t1")), 4);
        Assert.Equal(0.5f, m.UserTrack.Get(0, Track(m, "t2")), 4);
        Assert.Equal(1f, m.UserTrack.Get(0, Track(m, "t3")), 4);
        Assert.Equal(3f, m.UserTrack.Get(1, Track(m, "t3")), 4); // no time, newest snapshot: weight 1
        Assert.Equal(3, m.Sessions!.Tracks.Length);
    }
}
