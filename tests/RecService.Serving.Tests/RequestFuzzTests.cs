using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json;
using RecService.Api.V1;
using Xunit.Abstractions;

namespace RecService.Serving.Tests;

/// <summary>
/// Seeded fuzz over every REST route that takes a body, over real HTTP to a real replica: random JSON and mutations of
/// valid bodies. Every answer is 2xx or a 4xx with the JSON error body, never a 5xx or a hang, and the replica keeps
/// serving; mutated protobuf to every unary gRPC method likewise. Bounded by count and time.
/// </summary>
public sealed class RequestFuzzTests(ServedWorld served, ITestOutputHelper output) : IClassFixture<ServedWorld>
{
    private const int MaxInputs = 5000;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(8);

    private static readonly string[] Valid =
    [
        """{"plays":[{"trackId":"track-1","count":3},{"trackId":"track-2"}]}""",
        """{"trackId":"track-5","count":4}""",
        """{"artistId":"artist-2"}""",
        """{"count":5}""",
        """{"trackId":"track-7","thumb":"THUMB_UP"}""",
        """{"trackId":"track-8","thumb":"THUMB_DOWN"}""",
    ];

    private static readonly string[] Keys = ["plays", "trackId", "track_id", "artistId", "count", "thumb", "userId", "stationId", "excludePlayed", "", "\u0000", "plays.trackId"];
    private static readonly string[] Atoms =
    [
        "0", "-1", "1", "10001", "2147483648", "-2147483649", "1e308", "1e999", "-0", "0.5", "NaN", "\"NaN\"", "Infinity",
        "true", "false", "null", "\"\"", "\"track-1\"", "\"THUMB_UP\"", "\"THUMB_SIDEWAYS\"", "\"3\"", "\"\\u0000\"",
        "\"\\ud800\"", "\"é🎵\"", "[]", "{}", "\"" + new string('x', 300) + "\"", "\"" + new string('é', 200) + "\"",
    ];

    private static string RandomJson(Random random, int depth)
    {
        switch (depth > 4 ? random.Next(2) : random.Next(6))
        {
            case 0:
            case 1:
                return Atoms[random.Next(Atoms.Length)];
            case 2:
            case 3:
                var fields = Enumerable.Range(0, random.Next(4)).Select(_ => $"\"{Keys[random.Next(Keys.Length)]}\":{RandomJson(random, depth + 1)}");
                return "{" + string.Join(",", fields) + "}";
            case 4:
                return "[" + string.Join(",", Enumerable.Range(0, random.Next(5)).Select(_ => RandomJson(random, depth + 1))) + "]";
            default:
                return $"{{\"plays\":[{string.Join(",", Enumerable.Range(0, random.Next(1, 6)).Select(_ => $"{{\"trackId\":{Atoms[random.Next(Atoms.Length)]},\"count\":{Atoms[random.Next(Atoms.Length)]}}}"))}]}}";
        }
    }

    private const string Punctuation = "{}[]\",:\\0-e\u00ff";

    private static byte[] Mutate(Random random, byte[] body)
    {
        var bytes = body.ToList();
        for (var m = random.Next(1, 4); m > 0; m--)
        {
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0: bytes[random.Next(bytes.Count)] = (byte)random.Next(256); break;
                case 1 when bytes.Count > 0: bytes.RemoveRange(random.Next(bytes.Count), 1); break;
                case 2: bytes.Insert(random.Next(bytes.Count + 1), (byte)Punctuation[random.Next(Punctuation.Length)]); break;
                case 3 when bytes.Count > 1:
                    var cut = random.Next(bytes.Count); // truncated
                    bytes.RemoveRange(cut, bytes.Count - cut);
                    break;
                case 4: bytes.InsertRange(random.Next(bytes.Count + 1), Encoding.UTF8.GetBytes(new string('[', random.Next(1, 200)))); break;
                default: bytes.InsertRange(random.Next(bytes.Count + 1), [0xC3, 0x28, 0xFF, 0xFE]); break; // invalid UTF-8
            }
        }
        return [.. bytes];
    }

    [Fact]
    public async Task Random_and_mutated_bodies_never_get_a_5xx_or_hang()
    {
        var http = served.Replica.Http;
        var station = (await served.Replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(3) })).StationId;
        string[] routes = ["/v1/users/fuzz-user/plays", "/v1/radio/stations", $"/v1/radio/stations/{station}/next", $"/v1/radio/stations/{station}/feedback", "/v1/radio/stations/t.bm9wZQ.000000000000000000000000/next"];
        string[] contentTypes = ["application/json", "application/json; charset=utf-8", "application/problem+json", "text/plain", "application/json; charset=latin1"];
        var random = new Random(1818);
        var statuses = new SortedDictionary<int, int>();
        var clock = Stopwatch.StartNew();
        var inputs = 0;
        for (; inputs < MaxInputs && clock.Elapsed < Budget; inputs++)
        {
            var body = random.Next(3) == 0
                ? Encoding.UTF8.GetBytes(RandomJson(random, 0))
                : Mutate(random, Encoding.UTF8.GetBytes(Valid[random.Next(Valid.Length)]));
            var route = routes[random.Next(routes.Length)];
            using var request = new HttpRequestMessage(HttpMethod.Post, route) { Content = new ByteArrayContent(body) };
            request.Content.Headers.TryAddWithoutValidation("Content-Type", random.Next(8) == 0 ? contentTypes[random.Next(contentTypes.Length)] : "application/json");
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            using var response = await http.SendAsync(request, timeout.Token);
            var status = (int)response.StatusCode;
            statuses[status] = statuses.GetValueOrDefault(status) + 1;
            var text = await response.Content.ReadAsStringAsync(timeout.Token);
            var input = Encoding.UTF8.GetString(body);
            Assert.True(status is >= 200 and < 500, $"{route} {input} -> {status} {text}");
            if (status >= 400)
            {
                var error = JsonDocument.Parse(text).RootElement;
                Assert.True(error.TryGetProperty("code", out _) && error.TryGetProperty("message", out _) && error.TryGetProperty("details", out _), $"{route} {input} -> {status} {text}");
            }
        }
        output.WriteLine($"{inputs} inputs in {clock.Elapsed.TotalSeconds:F1} s: {string.Join(", ", statuses.Select(s => $"{s.Key} x{s.Value}"))}");
        Assert.True(inputs >= 200, $"only {inputs} inputs ran");
        // Still serving.
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/readyz")).StatusCode);
        Assert.Equal(served.Manifest.ModelVersion, (await served.Replica.Client.GetModelInfoAsync(new GetModelInfoRequest())).ModelVersion);
    }

    /// <summary>The gRPC side of the same pass: mutated protobuf to every unary method answers a status the API
    /// promises (never UNKNOWN or INTERNAL, which would mean an unhandled exception).</summary>
    [Fact]
    public async Task Mutated_protobuf_never_gets_unknown_or_internal()
    {
        var station = (await served.Replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(4) })).StationId;
        Google.Protobuf.IMessage[] valid =
        [
            new RecommendRequest { UserId = "user-1", Count = 5, ExcludeTrackIds = { "track-1" } },
            new RecordPlaysRequest { UserId = "fuzz", Plays = { new Play { TrackId = "track-2", Count = 2 } } },
            new SimilarTracksRequest { TrackId = "track-3", Count = 4 },
            new RelatedArtistsRequest { ArtistId = "artist-1" },
            new StartRadioRequest { TrackId = "track-5", Count = 3 },
            new NextTracksRequest { StationId = station, Count = 2 },
            new FeedbackRequest { StationId = station, TrackId = "track-6", Thumb = Thumb.Up },
        ];
        string[] methods = ["Recommender/Recommend", "Recommender/RecordPlays", "Recommender/SimilarTracks", "Recommender/RelatedArtists", "Radio/StartRadio", "Radio/NextTracks", "Radio/Feedback"];
        var invoker = served.Replica.Channel.CreateCallInvoker();
        var random = new Random(1819);
        var codes = new SortedDictionary<string, int>();
        var clock = Stopwatch.StartNew();
        var inputs = 0;
        for (; inputs < 2000 && clock.Elapsed < TimeSpan.FromSeconds(6); inputs++)
        {
            var which = random.Next(valid.Length);
            var (service, name) = (methods[which].Split('/')[0], methods[which].Split('/')[1]);
            var raw = new Grpc.Core.Method<byte[], byte[]>(Grpc.Core.MethodType.Unary, $"recservice.v1.{service}", name,
                Grpc.Core.Marshallers.Create(b => b, b => b), Grpc.Core.Marshallers.Create(b => b, b => b));
            var bytes = Mutate(random, Google.Protobuf.MessageExtensions.ToByteArray(valid[which]));
            var code = Grpc.Core.StatusCode.OK;
            try
            {
                await invoker.AsyncUnaryCall(raw, null, new Grpc.Core.CallOptions(deadline: DateTime.UtcNow.AddSeconds(5)), bytes);
            }
            catch (Grpc.Core.RpcException ex)
            {
                code = ex.StatusCode;
                Assert.True(code is not (Grpc.Core.StatusCode.Unknown or Grpc.Core.StatusCode.Internal or Grpc.Core.StatusCode.DeadlineExceeded),
                    $"{methods[which]} {Convert.ToHexString(bytes)} -> {code} {ex.Status.Detail}");
            }
            codes[code.ToString()] = codes.GetValueOrDefault(code.ToString()) + 1;
        }
        output.WriteLine($"{inputs} gRPC inputs in {clock.Elapsed.TotalSeconds:F1} s: {string.Join(", ", codes.Select(c => $"{c.Key} x{c.Value}"))}");
        Assert.True(inputs >= 200, $"only {inputs} inputs ran");
        Assert.Equal(served.Manifest.ModelVersion, (await served.Replica.Client.GetModelInfoAsync(new GetModelInfoRequest())).ModelVersion);
    }
}
