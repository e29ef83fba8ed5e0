using System.Diagnostics;
using System.Text.Json;
using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using StackExchange.Redis;

namespace RecService.Serving.Tests;

/// <summary>
/// What one station can make Redis (or a replica) hold: its lists stay within their bounds however long it is used,
/// and its TTL never reaches past its maximum age, through a real replica and a real Redis.
/// </summary>
public sealed class StationBoundTests
{
    [Fact]
    public async Task A_station_in_redis_stays_within_its_bounds_and_ends_at_its_maximum_age()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 91).Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: new Dictionary<string, string?>
        {
            ["Serving:Radio:StationSize"] = "20",
            ["Serving:Radio:MaxHistory"] = "30",
            ["Serving:Radio:MaxStationAge"] = "00:00:05", // room for the changes below on a loaded machine
            ["Serving:Radio:TracksPerArtist"] = "1000",
        });
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var db = connection.GetDatabase();

        var started = Stopwatch.StartNew();
        var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(2), Count = 5 });
        var key = $"recservice:station:{station.StationId}";
        var ttl = await db.KeyTimeToLiveAsync(key);
        Assert.True(ttl is { } first && first <= TimeSpan.FromSeconds(5), $"TTL {ttl} is within the maximum age, not the 2 h sliding TTL");

        // 200 plays and 60 distinct likes: each list keeps its latest entries only.
        for (var i = 0; i < 10; i++) await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId, Count = 20 });
        for (var t = 0; t < 60; t++)
            await replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = station.StationId, TrackId = TestWorld.TrackId(100 + t), Thumb = t % 2 == 0 ? Thumb.Up : Thumb.Down });
        var stored = JsonDocument.Parse((string)(await db.StringGetAsync(key))!).RootElement;
        Assert.Equal(30, stored.GetProperty("played").GetArrayLength());
        Assert.Equal(30, stored.GetProperty("liked").GetArrayLength());
        Assert.Equal(30, stored.GetProperty("disliked").GetArrayLength());
        Assert.InRange(stored.GetProperty("queue").GetArrayLength(), 1, 40);
        ttl = await db.KeyTimeToLiveAsync(key);
        Assert.True(ttl is { } u && u <= TimeSpan.FromSeconds(5), $"a change does not extend it past the maximum age: {ttl}");

        // Past its maximum age the station is gone however recently it was used.
        var left = TimeSpan.FromSeconds(5.2) - started.Elapsed;
        if (left > TimeSpan.Zero) await Task.Delay(left);
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId }));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task An_in_process_station_ends_at_its_maximum_age()
    {
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 92).Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path, settings: new Dictionary<string, string?> { ["Serving:Radio:MaxStationAge"] = "00:00:02" });
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        var started = Stopwatch.StartNew();
        var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(2), Count = 5 });
        Assert.Equal(5, (await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId, Count = 5 })).Items.Count);
        var left = TimeSpan.FromSeconds(2.2) - started.Elapsed;
        if (left > TimeSpan.Zero) await Task.Delay(left);
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = station.StationId }));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
    }

    [Fact]
    public async Task Redis_holds_at_most_the_bound_of_live_stations_and_expired_ones_make_room()
    {
        await using var redis = await RedisServer.StartAsync();
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 93).Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path, redis: redis.Configuration, settings: new Dictionary<string, string?>
        {
            ["Serving:Radio:MaxStations"] = "5",
            ["Serving:Radio:StationTtl"] = "00:00:03",
        });
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        using var connection = await ConnectionMultiplexer.ConnectAsync(redis.Configuration);
        var db = connection.GetDatabase();
        async Task<(List<string> Started, int Refused)> StartMany(int count)
        {
            var started = new List<string>();
            var refused = 0;
            for (var i = 0; i < count; i++)
            {
                try
                {
                    started.Add((await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(i), Count = 1 })).StationId);
                }
                catch (RpcException ex) when (ex.StatusCode == StatusCode.ResourceExhausted)
                {
                    Assert.Contains("Serving:Radio:MaxStations", ex.Status.Detail);
                    refused++;
                }
            }
            return (started, refused);
        }
        var (first, refused) = await StartMany(8);
        Assert.Equal((5, 3), (first.Count, refused));
        Assert.Equal(5, await db.SortedSetLengthAsync("recservice:stations"));
        // Every accepted station is there and continues.
        foreach (var id in first) Assert.Single((await replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = id, Count = 1 })).Items);
        // Once they expire (3 s after their last use), new stations take their room.
        var expired = Stopwatch.StartNew();
        while ((await db.KeyExistsAsync(first.Select(id => (RedisKey)$"recservice:station:{id}").ToArray())) > 0 && expired.Elapsed < TimeSpan.FromSeconds(10))
            await Task.Delay(100);
        var (second, _) = await StartMany(5);
        Assert.Equal(5, second.Count);
        Assert.Equal(5, await db.SortedSetLengthAsync("recservice:stations"));
    }
}
