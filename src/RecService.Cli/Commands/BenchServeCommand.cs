using System.CommandLine;
using System.Diagnostics;
using System.Net;
using Grpc.Net.Client;
using RecService.Api.V1;
using RecService.Core.Bundle;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec bench serve</c>: load against a running replica (<c>rec serve</c> in another process): requests/second and
/// latency percentiles for Recommend and the trivial GetModelInfo, over gRPC and REST, with N concurrent callers.
/// </summary>
public static class BenchServeCommand
{
    public static Command Create()
    {
        var grpc = new Option<string>("--grpc") { Description = "Replica gRPC address", DefaultValueFactory = _ => "http://127.0.0.1:8081" };
        var http = new Option<string>("--http") { Description = "Replica REST address", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var models = new Option<string>("--models") { Description = "The replica's models directory (user ids are drawn from its current bundle)", Required = true };
        var seconds = new Option<double>("--seconds") { Description = "Measured seconds per scenario", DefaultValueFactory = _ => 10 };
        var warmup = new Option<double>("--warmup") { Description = "Unmeasured seconds before each scenario", DefaultValueFactory = _ => 2 };
        var concurrency = new Option<int>("--concurrency") { Description = "Concurrent callers", DefaultValueFactory = _ => 16 };
        var count = new Option<int>("--count") { Description = "Recommendations per request", DefaultValueFactory = _ => 10 };
        var scenario = new Option<string[]>("--scenario") { Description = "Run only the scenarios whose name contains one of these (e.g. Similar, Radio, REST)", AllowMultipleArgumentsPerToken = true };
        var command = new Command("serve", "Load a running replica: throughput and p50/p90/p99 latency of Recommend vs GetModelInfo (gRPC and REST), and of SimilarTracks, RelatedArtists and StartRadio over gRPC.")
        {
            grpc, http, models, seconds, warmup, concurrency, count, scenario,
        };
        command.SetAction(async (parse, ct) =>
        {
            var store = new BundleStore(parse.GetValue(models)!);
            var version = store.CurrentVersion() ?? throw new InvalidOperationException($"No CURRENT in {store.Root}.");
            List<string> userIds, trackIds, artistIds;
            using (var bundle = ModelBundle.Open(store.PathOf(version), verifyChecksums: false))
            {
                userIds = Enumerable.Range(0, Math.Min(bundle.Users.Count, 100_000)).Select(i => bundle.Users[i]).ToList();
                // Seeds spread over the whole catalog (a stride), so the mapped pages read are not all hot.
                trackIds = Enumerable.Range(0, Math.Min(bundle.Tracks.Count, 100_000)).Select(i => bundle.Tracks[(int)((long)i * bundle.Tracks.Count / Math.Min(bundle.Tracks.Count, 100_000))]).ToList();
                artistIds = Enumerable.Range(0, Math.Min(bundle.Artists.Count, 100_000)).Select(i => bundle.Artists[(int)((long)i * bundle.Artists.Count / Math.Min(bundle.Artists.Count, 100_000))]).ToList();
            }
            var only = parse.GetValue(scenario) ?? [];
            var n = parse.GetValue(concurrency);
            var k = parse.GetValue(count);
            using var channel = GrpcChannel.ForAddress(parse.GetValue(grpc)!, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
            });
            var client = new Recommender.RecommenderClient(channel);
            var radio = new Radio.RadioClient(channel);
            using var rest = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = n }) { BaseAddress = new Uri(parse.GetValue(http)!) };

            var scenarios = new (string Name, Func<int, Task> Call)[]
            {
                ("gRPC GetModelInfo", async _ => await client.GetModelInfoAsync(new GetModelInfoRequest(), cancellationToken: ct)),
                ("gRPC Recommend", async i => await client.RecommendAsync(new RecommendRequest { UserId = userIds[i % userIds.Count], Count = k }, cancellationToken: ct)),
                ("REST GetModelInfo", async _ => await Get(rest, "/v1/model", ct)),
                ("REST Recommend", async i => await Get(rest, $"/v1/users/{userIds[i % userIds.Count]}/recommendations?count={k}", ct)),
                ("gRPC SimilarTracks", async i => await client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = trackIds[i % trackIds.Count], Count = k }, cancellationToken: ct)),
                ("gRPC RelatedArtists", async i => await client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = artistIds[i % artistIds.Count], Count = 20 }, cancellationToken: ct)),
                ("gRPC StartRadio", async i => await radio.StartRadioAsync(new StartRadioRequest { TrackId = trackIds[i % trackIds.Count], Count = k }, cancellationToken: ct)),
                // The same station from the ALS part alone: what the ensemble adds to a start.
                ("gRPC StartRadio ALS", async i => await radio.StartRadioAsync(new StartRadioRequest { TrackId = trackIds[i % trackIds.Count], Count = k, Model = "tracks" }, cancellationToken: ct)),
            };
            if (only.Length > 0) scenarios = scenarios.Where(s => only.Any(o => s.Name.Contains(o, StringComparison.OrdinalIgnoreCase))).ToArray();
            Console.WriteLine($"Replica {parse.GetValue(grpc)} / {parse.GetValue(http)}, model {version}, {n} concurrent callers, {parse.GetValue(seconds)} s per scenario");
            Console.WriteLine($"{"scenario",-20} {"req/s",10} {"p50 ms",8} {"p90 ms",8} {"p99 ms",8} {"max ms",8} {"errors",7}");
            foreach (var (name, call) in scenarios)
            {
                await Run(call, n, TimeSpan.FromSeconds(parse.GetValue(warmup)), ct);
                var result = await Run(call, n, TimeSpan.FromSeconds(parse.GetValue(seconds)), ct);
                Console.WriteLine($"{name,-20} {result.Rate,10:N0} {result.P(0.50),8:F2} {result.P(0.90),8:F2} {result.P(0.99),8:F2} {result.P(1.0),8:F2} {result.Errors,7}");
            }
            return 0;
        });
        return command;
    }

    private static async Task Get(HttpClient client, string path, CancellationToken ct)
    {
        using var response = await client.GetAsync(path, ct);
        if (response.StatusCode != HttpStatusCode.OK) throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
        await response.Content.LoadIntoBufferAsync(ct);
    }

    private sealed record LoadResult(double Rate, long[] Ticks, int Errors)
    {
        public double P(double q) => Ticks.Length == 0 ? double.NaN : Ticks[Math.Min(Ticks.Length - 1, (int)(q * Ticks.Length))] * 1000.0 / Stopwatch.Frequency;
    }

    private static async Task<LoadResult> Run(Func<int, Task> call, int concurrency, TimeSpan duration, CancellationToken ct)
    {
        var stopAt = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perCaller = new List<long>[concurrency];
        var errors = 0;
        var next = 0;
        var start = Stopwatch.GetTimestamp();
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(async c =>
        {
            var ticks = perCaller[c] = new List<long>(1 << 16);
            while (Stopwatch.GetTimestamp() < stopAt && !ct.IsCancellationRequested)
            {
                var t0 = Stopwatch.GetTimestamp();
                try
                {
                    await call(Interlocked.Increment(ref next));
                    ticks.Add(Stopwatch.GetTimestamp() - t0);
                }
                catch (Exception) when (!ct.IsCancellationRequested)
                {
                    Interlocked.Increment(ref errors);
                }
            }
        }));
        var elapsed = (Stopwatch.GetTimestamp() - start) / (double)Stopwatch.Frequency;
        var all = perCaller.SelectMany(l => l).ToArray();
        Array.Sort(all);
        return new LoadResult(all.Length / elapsed, all, errors);
    }
}
