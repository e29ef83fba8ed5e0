using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Serving.Tests;
using RecService.Synthetic;
using RecService.Worker;

namespace RecService.EndToEnd.Tests;

/// <summary>
/// The whole loop: generated logs -> worker publishes -> replica serves -> a new snapshot arrives -> the worker
/// republishes -> the replica swaps and answers change, with no failed request; then a bad snapshot is refused by
/// the gate and the old model keeps serving.
/// </summary>
public sealed class WorkerToReplicaTests
{
    private static readonly SampleWorldOptions World = new() { Users = 1500, Artists = 150, Tracks = 1200, Days = 3, Genres = 6, Seed = 5 };

    private static TrainingWorker NewWorker(string data, string models, int windowDays = 0, TimeSpan? poll = null, double holdout = 0.2) => new(
        Options.Create(new WorkerOptions
        {
            SnapshotsDirectory = Path.Combine(data, "snapshots"),
            CatalogDirectory = Path.Combine(data, "catalog"),
            ModelsDirectory = models,
            WindowDays = windowDays,
            SnapshotPollInterval = poll ?? TimeSpan.FromSeconds(10),
            HoldoutFraction = holdout,
            Factors = 16,
            Iterations = 6,
            Trees = 4,
            Threads = 2,
        }),
        new WorkerMetrics(),
        NullLogger<TrainingWorker>.Instance);

    [Fact]
    public async Task New_snapshot_is_trained_published_and_swapped_in_while_serving_and_a_bad_one_is_refused()
    {
        using var data = new TempDirectory();
        using var models = new TempDirectory();
        SampleWorldGenerator.Generate(World, data.Path);
        var worker = NewWorker(data.Path, models.Path);

        var first = await worker.RunOnceAsync();
        Assert.Equal(WorkerOutcome.Published, first.Outcome);
        var v1 = first.Version!;

        await using var replica = await Replica.StartAsync(models.Path, poll: TimeSpan.FromMilliseconds(50));
        await replica.WaitForVersionAsync(v1);
        var before = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "newcomer", Count = 10 });
        Assert.True(before.Fallback, "a user the model has never seen gets the popular fallback");

        // Traffic throughout the swap: every request must succeed.
        using var stop = new CancellationTokenSource();
        var failures = new List<string>();
        var served = 0;
        var load = Enumerable.Range(0, 3).Select(async w =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var r = await replica.Client.RecommendAsync(new RecommendRequest { UserId = $"u{(w * 37 + served) % World.Users:D4}", Count = 10 });
                    if (r.Items.Count != 10) lock (failures) failures.Add($"{r.Items.Count} items");
                    using var rest = await replica.Http.GetAsync("/v1/artists/ar001/related?count=5");
                    if (rest.StatusCode != HttpStatusCode.OK) lock (failures) failures.Add($"HTTP {(int)rest.StatusCode}");
                    Interlocked.Increment(ref served);
                }
                catch (Exception ex)
                {
                    lock (failures) failures.Add(ex.Message);
                }
            }
        }).ToList();

        // A new day arrives with a new user who plays one artist's tracks a lot.
        var tracksOfArtist = File.ReadLines(Path.Combine(data.Path, "catalog", "tracks.tsv")).Skip(1)
            .Select(l => l.Split('\t')).Where(f => f[1] == "ar003").Select(f => f[0]).ToList();
        var day = Path.Combine(data.Path, "snapshots", "2026-11-04");
        Directory.CreateDirectory(day);
        var lines = File.ReadLines(Path.Combine(data.Path, "snapshots", "2026-11-03", "plays.tsv")).Take(2000).ToList();
        lines.AddRange(tracksOfArtist.Select(t => $"newcomer\t{t}\t12"));
        await File.WriteAllLinesAsync(Path.Combine(day, "plays.tsv"), lines);

        var second = await worker.RunOnceAsync();
        Assert.Equal(WorkerOutcome.Published, second.Outcome);
        await replica.WaitForVersionAsync(second.Version!);
        await Task.Delay(300);
        stop.Cancel();
        await Task.WhenAll(load);
        Assert.Empty(failures);
        Assert.True(served > 20, $"only {served} requests ran");

        var after = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "newcomer", Count = 10, ExcludePlayed = false });
        Assert.False(after.Fallback);
        Assert.Equal(second.Version, after.ModelVersion);
        Assert.True(after.Items.Count(i => i.ArtistId == "ar003") >= 5, "the newcomer's recommendations follow what it played");

        // Upstream breaks: the newest snapshot is random noise. Trained on that window alone, the model is far
        // worse on held-out data; the gate refuses it and the replica keeps the previous model.
        var noise = Path.Combine(data.Path, "snapshots", "2026-11-05");
        Directory.CreateDirectory(noise);
        var rng = new Xoshiro256(99);
        await File.WriteAllLinesAsync(Path.Combine(noise, "plays.tsv"),
            Enumerable.Range(0, 30_000).Select(_ => $"u{rng.NextInt(World.Users):D4}\ttr{rng.NextInt(World.Tracks):D4}\t1"));
        var refused = await NewWorker(data.Path, models.Path, windowDays: 1).RunOnceAsync();
        Assert.Equal(WorkerOutcome.Refused, refused.Outcome);
        Assert.StartsWith("precision_drop", refused.Reason);
        Assert.Equal(second.Version, new BundleStore(models.Path).CurrentVersion());
        await Task.Delay(300);
        Assert.Equal(second.Version, (await replica.Client.GetModelInfoAsync(new GetModelInfoRequest())).ModelVersion);
    }

    [Fact]
    public async Task Unreadable_logs_fail_the_run_and_leave_the_current_model()
    {
        using var data = new TempDirectory();
        using var models = new TempDirectory();
        SampleWorldGenerator.Generate(World with { Users = 300, Days = 1 }, data.Path);
        var worker = NewWorker(data.Path, models.Path);
        var first = await worker.RunOnceAsync();
        Assert.Equal(WorkerOutcome.Published, first.Outcome);

        var bad = Path.Combine(data.Path, "snapshots", "2026-11-02");
        Directory.CreateDirectory(bad);
        await File.WriteAllLinesAsync(Path.Combine(bad, "plays.tsv"), Enumerable.Range(0, 50_000).Select(i => $"garbage line {i}"));
        var run = await worker.RunOnceAsync();
        Assert.Equal(WorkerOutcome.Failed, run.Outcome);
        Assert.Contains("rows are bad", run.Reason);
        Assert.Equal(first.Version, new BundleStore(models.Path).CurrentVersion());
    }

    [Fact]
    public async Task A_gate_metric_missing_refuses_the_model_loudly_instead_of_passing()
    {
        using var data = new TempDirectory();
        using var models = new TempDirectory();
        SampleWorldGenerator.Generate(World with { Users = 300, Days = 1 }, data.Path);
        // No hold-out: the candidate has no held-out precision for the gate to read.
        var run = await NewWorker(data.Path, models.Path, holdout: 0).RunOnceAsync();
        Assert.Equal(WorkerOutcome.Refused, run.Outcome);
        Assert.StartsWith("metric_missing", run.Reason);
        Assert.Contains(TrainingWorker.GateMetric, run.Reason);
        Assert.Empty(new BundleStore(models.Path).Versions());
    }

    [Fact]
    public async Task A_restarted_worker_does_not_retrain_unchanged_snapshots_and_a_failing_snapshot_is_tried_once()
    {
        using var data = new TempDirectory();
        using var models = new TempDirectory();
        SampleWorldGenerator.Generate(World with { Users = 300, Days = 1 }, data.Path);
        var first = await NewWorker(data.Path, models.Path).RunOnceAsync();
        Assert.Equal(WorkerOutcome.Published, first.Outcome);

        // A new worker process over the same data, polling every 50 ms: nothing to do.
        var restarted = NewWorker(data.Path, models.Path, poll: TimeSpan.FromMilliseconds(50));
        await restarted.StartAsync(CancellationToken.None);
        await Task.Delay(800);
        await restarted.StopAsync(CancellationToken.None);
        Assert.Equal(0, restarted.CompletedRuns);
        Assert.Equal([first.Version!], new BundleStore(models.Path).Versions());

        // Bad rows arrive: one failed run, then no retry every poll until the data changes.
        var bad = Path.Combine(data.Path, "snapshots", "2026-11-02");
        Directory.CreateDirectory(bad);
        await File.WriteAllLinesAsync(Path.Combine(bad, "plays.tsv"), Enumerable.Range(0, 20_000).Select(i => $"garbage line {i}"));
        var failing = NewWorker(data.Path, models.Path, poll: TimeSpan.FromMilliseconds(50));
        await failing.StartAsync(CancellationToken.None);
        for (var i = 0; i < 100 && failing.CompletedRuns == 0; i++) await Task.Delay(50);
        await Task.Delay(800);
        await failing.StopAsync(CancellationToken.None);
        Assert.Equal(1, failing.CompletedRuns);
        Assert.Equal(first.Version, new BundleStore(models.Path).CurrentVersion());
    }
}
