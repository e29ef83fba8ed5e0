using System.Net;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Serving.State;

namespace RecService.Serving.Tests;

/// <summary>
/// In-process state (no Redis) at its bound: new users and stations are refused with RESOURCE_EXHAUSTED / 429 and
/// counted; what was accepted is kept for its TTL, and existing entries keep working. Never accepted and then dropped.
/// </summary>
[Collection(nameof(RunsAlone))] // reads counters off /metrics
public sealed class LocalStateBoundTests
{
    private const int Limit = 50;

    private static async Task<(Replica Replica, TempDirectory Models)> StartAsync()
    {
        var models = new TempDirectory();
        var manifest = new TestWorld(seed: 71).Publish(new BundleStore(models.Path));
        var replica = await Replica.StartAsync(models.Path, settings: new Dictionary<string, string?> { ["Serving:State:LocalLimit"] = Limit.ToString() });
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        return (replica, models);
    }

    private static async Task<long> RefusedCount(Replica replica, string kind)
    {
        var line = (await replica.Http.GetStringAsync("/metrics")).Split('\n')
            .SingleOrDefault(l => l.StartsWith("recservice_state_refused_total{") && l.Contains($"kind=\"{kind}\""));
        return line is null ? 0 : long.Parse(line[(line.LastIndexOf(' ') + 1)..]);
    }

    [Fact]
    public async Task Fresh_plays_past_the_bound_are_refused_and_every_accepted_user_keeps_them()
    {
        var (replica, models) = await StartAsync();
        await using var _ = replica;
        using var __ = models;
        var accepted = new List<string>();
        var refused = 0;
        for (var u = 0; u < 200; u++)
        {
            var request = new RecordPlaysRequest { UserId = $"new-user-{u}" };
            request.Plays.Add(new Play { TrackId = TestWorld.TrackId(u % 100), Count = 3 });
            try
            {
                var answer = await replica.Client.RecordPlaysAsync(request);
                Assert.Equal(1, answer.Accepted);
                accepted.Add(request.UserId);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                Assert.Contains("Serving:State:LocalLimit", ex.Status.Detail);
                refused++;
            }
        }
        Assert.Equal((Limit, 200 - Limit), (accepted.Count, refused));

        // Over REST too: 429 with the JSON error body.
        using var rest = await replica.Http.PostAsync("/v1/users/one-more/plays",
            new StringContent("""{"plays":[{"trackId":"track-1","count":1}]}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.TooManyRequests, rest.StatusCode);
        var body = JsonDocument.Parse(await rest.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal((int)StatusCode.ResourceExhausted, body.GetProperty("code").GetInt32());
        Assert.Contains("full", body.GetProperty("message").GetString());

        // Every accepted user kept their plays, and an existing user still records at the bound.
        foreach (var user in accepted)
            Assert.Equal("realtime", (await replica.Client.RecommendAsync(new RecommendRequest { UserId = user })).Source);
        var more = new RecordPlaysRequest { UserId = accepted[0] };
        more.Plays.Add(new Play { TrackId = TestWorld.TrackId(150), Count = 1 });
        Assert.Equal(1, (await replica.Client.RecordPlaysAsync(more)).Accepted);

        long counted = 0;
        for (var attempt = 0; attempt < 50 && counted < 200 - Limit + 1; attempt++)
        {
            counted = await RefusedCount(replica, "fresh_plays");
            if (counted < 200 - Limit + 1) await Task.Delay(100);
        }
        Assert.Equal(200 - Limit + 1, counted);
    }

    [Fact]
    public async Task Stations_past_the_bound_are_refused_and_every_returned_station_continues()
    {
        var (replica, models) = await StartAsync();
        await using var _ = replica;
        using var __ = models;
        var stations = new List<string>();
        var refused = 0;
        for (var s = 0; s < Limit + 20; s++)
        {
            try
            {
                stations.Add((await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(s), Count = 2 })).StationId);
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
            {
                refused++;
            }
        }
        Assert.Equal((Limit, 20), (stations.Count, refused));
        using var rest = await replica.Http.PostAsync("/v1/radio/stations", new StringContent("""{"trackId":"track-3"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.TooManyRequests, rest.StatusCode);
        // No returned station answers NOT_FOUND within its TTL, and each still takes feedback at the bound.
        foreach (var id in stations)
            Assert.Equal(3, (await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = id, Count = 3 })).Items.Count);
        await replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = stations[0], TrackId = TestWorld.TrackId(5), Thumb = Thumb.Up });
        long counted = 0;
        for (var attempt = 0; attempt < 50 && counted < 21; attempt++)
        {
            counted = await RefusedCount(replica, "station");
            if (counted < 21) await Task.Delay(100);
        }
        Assert.Equal(21, counted);
    }

    /// <summary>A clock the test moves.</summary>
    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    [Fact]
    public void Expired_entries_make_room_and_live_ones_are_never_evicted()
    {
        var clock = new ManualClock();
        using var state = new LocalState<string>(2, TimeSpan.FromMinutes(10), clock);
        Assert.True(state.TryAdd("a", "A"));
        Assert.True(state.TryAdd("b", "B"));
        Assert.False(state.TryAdd("c", "C")); // full: refused, nothing evicted
        Assert.Equal(("A", "B"), (state.Get("a"), state.Get("b")));

        clock.Now += TimeSpan.FromMinutes(8);
        Assert.Equal("A", state.Get("a")); // a read slides "a" on
        clock.Now += TimeSpan.FromMinutes(8);
        Assert.Null(state.Get("b")); // "b" expired
        Assert.True(state.TryAdd("c", "C")); // its room is taken again
        Assert.False(state.TryAdd("d", "D"));
        Assert.Equal(("A", "C"), (state.Get("a"), state.Get("c")));
        Assert.Equal(2, state.Count);
    }
}
