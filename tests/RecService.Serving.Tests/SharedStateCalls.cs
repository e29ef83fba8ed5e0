using System.Diagnostics;
using Grpc.Core;
using RecService.Api.V1;

namespace RecService.Serving.Tests;

/// <summary>One call of <see cref="SharedStateCalls"/>: what it was, how long it took, whether it was answered degraded or failed.</summary>
public readonly record struct TimedCall(string Method, TimeSpan Took, bool Degraded, StatusCode? Failed);

/// <summary>
/// The calls that touch Redis (Recommend with and without fresh plays, RecordPlays, StartRadio, NextTracks, Feedback)
/// against a real replica over gRPC, each timed. Bounded: rounds stop at their count or their deadline, whichever first.
/// </summary>
public sealed class SharedStateCalls(Replica replica)
{
    private string? _station;

    /// <summary>Starts a station to continue (Redis up); its id is then used by every round.</summary>
    public async Task StartAsync()
    {
        var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(7), Count = 2 });
        _station = station.StationId;
    }

    /// <summary>One round of every kind of call, for <paramref name="client"/>'s own users.</summary>
    public async Task<List<TimedCall>> RoundAsync(int client, int round)
    {
        var calls = new List<TimedCall>(6);
        var user = $"load-{client}";
        var track = TestWorld.TrackId((client * 7 + round) % 300);
        async Task Time(string method, Func<Task<bool>> call)
        {
            var clock = Stopwatch.StartNew();
            try
            {
                var degraded = await call();
                calls.Add(new TimedCall(method, clock.Elapsed, degraded, null));
            }
            catch (RpcException ex)
            {
                calls.Add(new TimedCall(method, clock.Elapsed, false, ex.StatusCode));
            }
        }
        var deadline = DateTime.UtcNow.AddSeconds(10); // a client deadline: a hung call fails the test, not the run
        await Time("RecordPlays", async () => (await replica.Client.RecordPlaysAsync(new RecordPlaysRequest { UserId = user, Plays = { new Play { TrackId = track, Count = 2 } } }, deadline: deadline)).Degraded);
        await Time("Recommend(fresh)", async () => (await replica.Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 5 }, deadline: deadline)).Degraded);
        await Time("Recommend(model)", async () => (await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(client % 50), Count = 5 }, deadline: deadline)).Degraded);
        await Time("StartRadio", async () => (await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = track, Count = 2 }, deadline: deadline)).Degraded);
        await Time("NextTracks", async () => (await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = _station!, Count = 2 }, deadline: deadline)).Degraded);
        await Time("Feedback", async () => (await replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = _station!, TrackId = track, Thumb = Thumb.Up }, deadline: deadline)).Degraded);
        return calls;
    }

    /// <summary>
    /// <paramref name="clients"/> concurrent clients, each running rounds until <paramref name="rounds"/> or
    /// <paramref name="duration"/>; <paramref name="during"/> runs alongside (the fault to inject).
    /// </summary>
    public async Task<List<TimedCall>> RunAsync(int clients, int rounds, TimeSpan duration, Func<Task>? during = null)
    {
        var until = DateTime.UtcNow + duration;
        var all = new List<TimedCall>();
        var load = Enumerable.Range(0, clients).Select(async c =>
        {
            var mine = new List<TimedCall>();
            for (var r = 0; r < rounds && DateTime.UtcNow < until; r++) mine.AddRange(await RoundAsync(c, r));
            return mine;
        }).ToList();
        if (during is not null) await during();
        foreach (var calls in await Task.WhenAll(load)) all.AddRange(calls);
        return all;
    }
}
