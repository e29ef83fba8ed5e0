using System.Net;
using System.Text.Json;

namespace RecService.Serving.Tests;

public sealed class RestApiTests(ServedWorld served) : IClassFixture<ServedWorld>
{
    private HttpClient Http => served.Replica.Http;

    private static async Task<JsonElement> Json(HttpResponseMessage response)
    {
        var text = await response.Content.ReadAsStringAsync();
        return JsonDocument.Parse(text).RootElement;
    }

    [Fact]
    public async Task Recommendations_route_returns_items_as_json()
    {
        using var response = await Http.GetAsync("/v1/users/user-5/recommendations?count=7");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(new Version(1, 1), response.Version);
        var body = await Json(response);
        var items = body.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(7, items.Count);
        Assert.StartsWith("track-", items[0].GetProperty("id").GetString());
        Assert.StartsWith("Song ", items[0].GetProperty("name").GetString());
        Assert.Equal(served.Manifest.ModelVersion, body.GetProperty("modelVersion").GetString());
        var played = served.World.Played.RowIndices(5).ToArray().Select(TestWorld.TrackId).ToHashSet();
        Assert.DoesNotContain(items, i => played.Contains(i.GetProperty("id").GetString()!));
    }

    [Fact]
    public async Task Recommendations_route_takes_exclusions_and_exclude_played_from_the_query()
    {
        var first = await Json(await Http.GetAsync("/v1/users/user-6/recommendations?count=3"));
        var top = first.GetProperty("items")[0].GetProperty("id").GetString();
        var second = await Json(await Http.GetAsync($"/v1/users/user-6/recommendations?count=3&excludeTrackIds={top}"));
        Assert.DoesNotContain(second.GetProperty("items").EnumerateArray(), i => i.GetProperty("id").GetString() == top);

        var all = await Json(await Http.GetAsync("/v1/users/user-6/recommendations?count=200&excludePlayed=false"));
        var played = served.World.Played.RowIndices(6).ToArray().Select(TestWorld.TrackId).ToHashSet();
        Assert.Contains(all.GetProperty("items").EnumerateArray(), i => played.Contains(i.GetProperty("id").GetString()!));
    }

    [Fact]
    public async Task Similar_related_and_model_routes_answer()
    {
        var similar = await Json(await Http.GetAsync("/v1/tracks/track-42/similar"));
        Assert.Equal(10, similar.GetProperty("items").GetArrayLength());
        var related = await Json(await Http.GetAsync("/v1/artists/artist-1/related?count=4"));
        Assert.Equal(4, related.GetProperty("items").GetArrayLength());
        var model = await Json(await Http.GetAsync("/v1/model"));
        Assert.Equal(served.Manifest.ModelVersion, model.GetProperty("modelVersion").GetString());
        Assert.Equal(served.World.Tracks.ToString(), model.GetProperty("tracks").ToString());
    }

    [Fact]
    public async Task Unknown_user_is_a_fallback_over_rest()
    {
        var body = await Json(await Http.GetAsync("/v1/users/nobody-at-all/recommendations?count=3"));
        Assert.True(body.GetProperty("fallback").GetBoolean());
        Assert.Equal(3, body.GetProperty("items").GetArrayLength());
    }

    [Theory]
    [InlineData("/v1/tracks/nope/similar", HttpStatusCode.NotFound, "'nope'")]
    [InlineData("/v1/artists/nope/related", HttpStatusCode.NotFound, "'nope'")]
    [InlineData("/v1/users/user-1/recommendations?count=501", HttpStatusCode.BadRequest, "count must be between 1 and 500")]
    [InlineData("/v1/tracks/track-1/similar?count=-3", HttpStatusCode.BadRequest, "count must be between 1 and 500")]
    [InlineData("/v1/users/user-1/recommendations?count=abc", HttpStatusCode.BadRequest, "'abc' was not in a correct format")]
    public async Task Errors_map_to_http_status_with_a_message_body(string path, HttpStatusCode status, string message)
    {
        using var response = await Http.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        var text = await response.Content.ReadAsStringAsync();
        Assert.False(string.IsNullOrWhiteSpace(text), "error responses carry a body");
        Assert.Contains(message, text);
    }

    [Fact]
    public async Task Health_ready_and_metrics_endpoints()
    {
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync("/healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync("/readyz")).StatusCode);
        await served.Replica.Client.GetModelInfoAsync(new Api.V1.GetModelInfoRequest());
        await Http.GetAsync("/v1/tracks/nope/similar");
        // Metrics are collected on scrape; the histogram carries the method, status and transport.
        string metrics = "";
        for (var attempt = 0; attempt < 50 && !metrics.Contains("grpc_status=\"NotFound\""); attempt++)
        {
            metrics = await Http.GetStringAsync("/metrics");
            await Task.Delay(100);
        }
        Assert.Contains("recservice_rpc_duration_seconds_bucket", metrics);
        Assert.Contains("rpc_method=\"GetModelInfo\"", metrics);
        Assert.Contains("grpc_status=\"NotFound\"", metrics);
        Assert.Contains("transport=\"rest\"", metrics);
        Assert.Contains("transport=\"grpc\"", metrics);
        Assert.Contains($"model_version=\"{served.Manifest.ModelVersion}\"", metrics);
        Assert.Contains("recservice_model_age_seconds", metrics);
        Assert.Contains("dotnet_gc_collections_total", metrics); // the runtime's own meter: GC, heap, thread pool
    }
}
