using System.Net;
using System.Text;
using System.Text.Json;
using Grpc.Core;
using RecService.Api.V1;

namespace RecService.Serving.Tests;

/// <summary>
/// Bounds on what one request may carry (ids, bodies, URLs) and the statuses bad requests get: gRPC status plus a short
/// message, REST 4xx with the JSON error body every error has, over real HTTP/1.1 and HTTP/2 to a real replica.
/// </summary>
public sealed class RequestLimitTests(ServedWorld served) : IClassFixture<ServedWorld>
{
    private Replica Replica => served.Replica;

    /// <summary>The body every REST error carries: <c>{"code": gRPC code, "message": "...", "details": []}</c>.</summary>
    internal static async Task<JsonElement> ErrorBody(HttpResponseMessage response, HttpStatusCode status)
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.StartsWith("application/json", response.Content.Headers.ContentType?.MediaType);
        var body = JsonDocument.Parse(text).RootElement;
        Assert.Equal(JsonValueKind.Number, body.GetProperty("code").ValueKind);
        Assert.False(string.IsNullOrWhiteSpace(body.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.Array, body.GetProperty("details").ValueKind);
        return body;
    }

    private static async Task<RpcException> Refused(StatusCode code, Func<Task> call)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(call);
        Assert.Equal(code, ex.StatusCode);
        Assert.True(ex.Status.Detail.Length < 200, $"a short message: {ex.Status.Detail.Length} characters");
        return ex;
    }

    public static TheoryData<string> Fields => new() { "user_id", "plays.track_id", "exclude_track_ids", "track_id", "artist_id", "radio.track_id", "radio.artist_id", "station_id", "feedback.track_id" };

    [Theory]
    [MemberData(nameof(Fields))]
    public async Task Ids_longer_than_256_utf8_bytes_are_invalid_on_every_rpc(string field)
    {
        var known = TestWorld.TrackId(1);
        foreach (var id in new[] { new string('x', 257), new string('é', 129), new string('x', 100_000) })
        {
            Func<Task> call = field switch
            {
                "user_id" => async () => await Replica.Client.RecommendAsync(new RecommendRequest { UserId = id }),
                "plays.track_id" => async () => await Replica.Client.RecordPlaysAsync(new RecordPlaysRequest { UserId = "u", Plays = { new Play { TrackId = known }, new Play { TrackId = id } } }),
                "exclude_track_ids" => async () => await Replica.Client.RecommendAsync(new RecommendRequest { UserId = "u", ExcludeTrackIds = { id } }),
                "track_id" => async () => await Replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = id }),
                "artist_id" => async () => await Replica.Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = id }),
                "radio.track_id" => async () => await Replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = id }),
                "radio.artist_id" => async () => await Replica.Radio.StartRadioAsync(new StartRadioRequest { ArtistId = id }),
                "station_id" => async () => await Replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = id }),
                _ => async () => await Replica.Radio.FeedbackAsync(new FeedbackRequest { StationId = "s", TrackId = id, Thumb = Thumb.Up }),
            };
            var ex = await Refused(StatusCode.InvalidArgument, call);
            // The message names the proto field ("radio." and "feedback." only tell the cases apart).
            Assert.Contains(field.StartsWith("plays.") ? field : field[(field.IndexOf('.') + 1)..], ex.Status.Detail);
            Assert.Contains("256", ex.Status.Detail);
        }
        // At the bound an id is looked up: unknown, not invalid.
        await Refused(StatusCode.NotFound, async () => await Replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = new string('é', 128) }));
    }

    [Fact]
    public async Task Not_found_messages_echo_a_short_prefix_of_the_id()
    {
        var id = "t" + new string('z', 255);
        var ex = await Refused(StatusCode.NotFound, async () => await Replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = id }));
        Assert.Contains("tzzzz", ex.Status.Detail);
        Assert.Contains("…", ex.Status.Detail);
        Assert.DoesNotContain(id, ex.Status.Detail);
        var station = await Refused(StatusCode.NotFound, async () => await Replica.Radio.NextTracksAsync(new NextTracksRequest { StationId = id }));
        Assert.DoesNotContain(id, station.Status.Detail);
        using var rest = await Replica.Http.GetAsync($"/v1/tracks/{id}/similar");
        var body = await ErrorBody(rest, HttpStatusCode.NotFound);
        Assert.DoesNotContain(id, body.GetProperty("message").GetString());
    }

    [Fact]
    public async Task Grpc_messages_past_the_body_limit_are_resource_exhausted()
    {
        var request = new RecordPlaysRequest { UserId = "big" };
        for (var i = 0; i < 5000; i++) request.Plays.Add(new Play { TrackId = new string('p', 240) + i, Count = 1 }); // 1.3 MB
        var ex = await Refused(StatusCode.ResourceExhausted, async () => await Replica.Client.RecordPlaysAsync(request));
        Assert.Contains("size", ex.Status.Detail);
    }

    [Theory]
    [InlineData("recservice.v1.Recommender", "Recommend")]
    [InlineData("recservice.v1.Recommender", "RecordPlays")]
    [InlineData("recservice.v1.Radio", "StartRadio")]
    public async Task Malformed_protobuf_is_invalid_argument(string service, string method)
    {
        var raw = new Method<byte[], byte[]>(MethodType.Unary, service, method, Marshallers.Create(b => b, b => b), Marshallers.Create(b => b, b => b));
        var invoker = Replica.Channel.CreateCallInvoker();
        // A field tag with a length running past the end, a bad wire type, and a truncated varint.
        foreach (var garbage in new[] { new byte[] { 0x0A, 0x7F, 0x41 }, new byte[] { 0x0F, 0x01 }, new byte[] { 0x10, 0xFF, 0xFF } })
        {
            var ex = await Refused(StatusCode.InvalidArgument, async () => await invoker.AsyncUnaryCall(raw, null, new CallOptions(), garbage));
            Assert.DoesNotContain("Exception was thrown by handler", ex.Status.Detail);
        }
        Assert.NotNull(await Replica.Client.GetModelInfoAsync(new GetModelInfoRequest())); // still serving
    }

    private static HttpContent Json(string text) => new StringContent(text, Encoding.UTF8, "application/json");

    /// <summary>A body of <paramref name="plays"/> plays (about 40 bytes each).</summary>
    private static string ManyPlays(int plays)
    {
        var text = new StringBuilder("{\"plays\":[");
        for (var i = 0; i < plays; i++) text.Append(i == 0 ? "" : ",").Append("{\"trackId\":\"track-").Append(i % 2000).Append("\",\"count\":1}");
        return text.Append("]}").ToString();
    }

    [Fact]
    public async Task Rest_bodies_past_the_limit_are_413_with_or_without_a_length()
    {
        var body = ManyPlays(40_000); // about 1.4 MB
        // With a length: refused before any of it is read (the client waits for 100-continue, as curl does for large bodies).
        using var sizedRequest = new HttpRequestMessage(HttpMethod.Post, "/v1/users/u/plays") { Content = Json(body) };
        sizedRequest.Headers.ExpectContinue = true;
        using var sized = await Replica.Http.SendAsync(sizedRequest);
        await ErrorBody(sized, HttpStatusCode.RequestEntityTooLarge);

        // Chunked: the limit is met while reading.
        using var chunked = new HttpRequestMessage(HttpMethod.Post, "/v1/users/u/plays") { Content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body))) };
        chunked.Content.Headers.ContentType = new("application/json");
        chunked.Headers.TransferEncodingChunked = true;
        using var answer = await Replica.Http.SendAsync(chunked);
        await ErrorBody(answer, HttpStatusCode.RequestEntityTooLarge);

        // Under the limit, the list bound answers (400, naming it).
        using var many = await Replica.Http.PostAsync("/v1/users/u/plays", Json(ManyPlays(5000)));
        Assert.Contains("plays must hold 1 to 1000", (await ErrorBody(many, HttpStatusCode.BadRequest)).GetProperty("message").GetString());
        (await Replica.Http.PostAsync("/v1/users/u/plays", Json(ManyPlays(10)))).EnsureSuccessStatusCode();
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("application/xml")]
    public async Task Rest_bodies_that_are_not_json_are_415(string contentType)
    {
        foreach (var path in new[] { "/v1/users/u/plays", "/v1/radio/stations" })
        {
            using var content = new StringContent("""{"plays":[{"trackId":"track-1"}],"trackId":"track-1"}""", Encoding.UTF8, contentType);
            using var response = await Replica.Http.PostAsync(path, content);
            await ErrorBody(response, HttpStatusCode.UnsupportedMediaType);
        }
    }

    [Fact]
    public async Task Unknown_routes_wrong_methods_and_long_urls_answer_the_json_error_body()
    {
        foreach (var path in new[] { "/v1/nothing-here", "/", "/v1/a/b/c/d", "/recservice.v1.Recommender/Nope" })
            await ErrorBody(await Replica.Http.GetAsync(path), HttpStatusCode.NotFound);
        await ErrorBody(await Replica.Http.PostAsync("/v1/nothing/here", Json("{}")), HttpStatusCode.NotFound);
        await ErrorBody(await Replica.Http.DeleteAsync("/v1/model"), HttpStatusCode.NotFound); // not 405: a two-segment path also matches gRPC's route for unknown methods
        await ErrorBody(await Replica.Http.GetAsync("/v1/users/u/plays"), HttpStatusCode.MethodNotAllowed);
        await ErrorBody(await Replica.Http.PostAsync("/v1/tracks/track-1/similar", Json("{}")), HttpStatusCode.MethodNotAllowed);
        var longUrl = "/v1/users/u/recommendations?excludeTrackIds=" + new string('x', 70_000);
        await ErrorBody(await Replica.Http.GetAsync(longUrl), HttpStatusCode.RequestUriTooLong);
        // A long id in the path: refused by its length, naming the field.
        var message = (await ErrorBody(await Replica.Http.GetAsync($"/v1/users/{new string('u', 300)}/recommendations"), HttpStatusCode.BadRequest)).GetProperty("message").GetString();
        Assert.Contains("user_id", message);
        (await Replica.Http.GetAsync("/v1/model")).EnsureSuccessStatusCode();
    }
}
