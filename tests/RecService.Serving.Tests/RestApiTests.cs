using System.Net;
using System.Text.Json;
using Google.Protobuf;
using RecService.Core.Bundle;
using RecService.Api.V1;

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

    /// <summary>
    /// REST Recommend is written by the replica's own JSON writer (RecommendJson), not by transcoding: it must say what
    /// transcoding would say for the gRPC answer, with transcoding's settings: every field of the message (a field added
    /// to the proto and not to the writer fails here), proto3 JSON names in field number order, equal values, and
    /// floats as System.Text.Json writes them.
    /// </summary>
    [Theory]
    [InlineData("user-5", 7, "")]
    [InlineData("user-11", 30, "&excludePlayed=false")]
    [InlineData("nobody-at-all", 4, "")]
    public async Task Recommendations_json_is_the_grpc_answer_as_transcoding_writes_it(string user, int count, string query)
    {
        var request = new RecommendRequest { UserId = user, Count = count };
        if (query.Contains("excludePlayed=false")) request.ExcludePlayed = false;
        var message = await served.Replica.Client.RecommendAsync(request);
        using var response = await Http.GetAsync($"/v1/users/{user}/recommendations?count={count}{query}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        var body = await Json(response);
        Assert.Equal(count, message.Items.Count);
        AssertTranscoded(message, body);
        Assert.Contains(message.Items, i => i.Reason.Length > 0);
    }

    // Transcoding writes strings with System.Text.Json and this encoder: the raw text must match, escapes included.
    private static readonly JsonSerializerOptions Relaxed = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Names with escapes, non-ASCII, invisible characters and artist names too long for the phrase buffer.</summary>
    [Fact]
    public async Task Recommendations_json_escapes_names_as_transcoding_does()
    {
        using var models = new TempDirectory();
        string[] odd = ["é \"quoted\" <&'>", "🎵 tab\tline\u2028sep", "ctl\u0001\u007f\u00ad\u200b\ufeff", "back\\slash / ü", "日本語の曲"];
        var world = new TestWorld(seed: 61)
        {
            TrackTitle = t => $"{odd[t % odd.Length]} {t}",
            ArtistName = a => a % 3 == 0 ? new string('ñ', 150 + a) : $"{odd[(a + 2) % odd.Length]} {a}",
        };
        var manifest = world.Publish(new BundleStore(models.Path));
        await using var replica = await Replica.StartAsync(models.Path);
        await replica.WaitForVersionAsync(manifest.ModelVersion);
        foreach (var user in new[] { TestWorld.UserId(2), TestWorld.UserId(7), "someone-new" })
        {
            var message = await replica.Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 40 });
            var body = await Json(await replica.Http.GetAsync($"/v1/users/{user}/recommendations?count=40"));
            AssertTranscoded(message, body);
        }
    }

    private static void AssertTranscoded(IMessage message, JsonElement json)
    {
        var fields = message.Descriptor.Fields.InFieldNumberOrder();
        Assert.Equal(fields.Select(f => f.JsonName), json.EnumerateObject().Select(p => p.Name));
        foreach (var field in fields)
        {
            var value = field.Accessor.GetValue(message);
            var element = json.GetProperty(field.JsonName);
            switch (value)
            {
                case System.Collections.IList list:
                    Assert.Equal(list.Count, element.GetArrayLength());
                    for (var i = 0; i < list.Count; i++) AssertTranscoded((IMessage)list[i]!, element[i]);
                    break;
                case string text: Assert.Equal(JsonSerializer.Serialize(text, Relaxed), element.GetRawText()); break;
                case bool flag: Assert.Equal(flag, element.GetBoolean()); break;
                case float number: Assert.Equal(JsonSerializer.Serialize(number), element.GetRawText()); break;
                default: Assert.Fail($"field {field.Name}: no check for {value?.GetType().Name ?? "null"}"); break;
            }
        }
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
        await Http.GetAsync("/v1/users/user-3/recommendations?count=2");
        // Metrics are collected on scrape; the histogram carries the method, status and transport.
        string metrics = "";
        static bool RestRecommend(string line) => line.Contains("rpc_method=\"Recommend\"") && line.Contains("transport=\"rest\"");
        for (var attempt = 0; attempt < 50 && !(metrics.Contains("grpc_status=\"NotFound\"") && metrics.Split('\n').Any(RestRecommend)); attempt++)
        {
            metrics = await Http.GetStringAsync("/metrics");
            await Task.Delay(100);
        }
        Assert.Contains("recservice_rpc_duration_seconds_bucket", metrics);
        Assert.Contains("rpc_method=\"GetModelInfo\"", metrics);
        Assert.Contains("grpc_status=\"NotFound\"", metrics);
        Assert.Contains("transport=\"rest\"", metrics);
        Assert.Contains("transport=\"grpc\"", metrics);
        // REST Recommend is served by RecommendJson and counted as Recommend.
        Assert.Contains(metrics.Split('\n'), RestRecommend);
        Assert.DoesNotContain("rpc_method=\"RecommendJson\"", metrics);
        Assert.Contains($"model_version=\"{served.Manifest.ModelVersion}\"", metrics);
        Assert.Contains("recservice_model_age_seconds", metrics);
        Assert.Contains("dotnet_gc_collections_total", metrics); // the runtime's own meter: GC, heap, thread pool
    }
}
