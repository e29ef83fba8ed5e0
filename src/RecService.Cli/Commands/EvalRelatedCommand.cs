using System.CommandLine;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using RecService.Core.Sampling;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec eval related</c>: asks a running replica over REST for related artists, similar tracks and radio stations of
/// seeded random seeds of a generated world, and reports how often the answers share the seed's genre (the world's
/// ground truth in <c>artist_genres.tsv</c>, which training never reads), overall and for seed tracks with few listeners.
/// </summary>
public static class EvalRelatedCommand
{
    public static Command Create()
    {
        var world = new Option<string>("--world") { Description = "A world written by rec generate (snapshots/, catalog/, artist_genres.tsv).", Required = true };
        var server = new Option<string>("--server") { Description = "The replica's REST endpoint.", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var model = new Option<string?>("--model") { Description = "Ask for one track part (e.g. tracks, w2v-tracks) for similar tracks and radio instead of the default." };
        var artistModel = new Option<string?>("--artist-model") { Description = "Ask for one artist part (e.g. artists, w2v-artists) for related artists instead of the default." };
        var seeds = new Option<int>("--seeds") { Description = "Seeds per measure.", DefaultValueFactory = _ => 200 };
        var radioTracks = new Option<int>("--radio-tracks") { Description = "Tracks taken from each station.", DefaultValueFactory = _ => 250 };
        var fewListeners = new Option<int>("--few-listeners") { Description = "A seed track with at most this many listeners is a long-tail seed.", DefaultValueFactory = _ => 3 };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the seed sample.", DefaultValueFactory = _ => 7 };
        var perArtist = new Option<int>("--tracks-per-artist") { Description = "The replica's Serving:Radio:TracksPerArtist, for the ceiling it puts on radio's same-genre share.", DefaultValueFactory = _ => new RecService.Serving.ServingOptions.RadioSettings().TracksPerArtist };
        var command = new Command("related", "Same-genre share of RelatedArtists, SimilarTracks and Radio answers of a replica serving a generated world.")
        {
            world, server, model, artistModel, seeds, radioTracks, fewListeners, seed, perArtist,
        };
        command.SetAction(async (parse, ct) =>
        {
            var dir = parse.GetValue(world)!;
            var genresPath = Path.Combine(dir, "artist_genres.tsv");
            if (!File.Exists(genresPath))
            {
                Console.Error.WriteLine($"{genresPath}: not found; rec eval related needs a world written by rec generate.");
                return 2;
            }
            var genreOf = File.ReadLines(genresPath).Skip(1).Select(l => l.Split('\t')).Where(f => f.Length >= 2).ToDictionary(f => f[0], f => f[1]);
            var catalog = TrackCatalog.Load(Path.Combine(dir, "catalog"));
            var data = await SnapshotSet.Discover(Path.Combine(dir, "snapshots")).ReadAsync(null, catalog, 1.0, ct);
            var listeners = new int[catalog.TrackCount];
            foreach (var t in data.UserTrack.ColumnIndices) listeners[t]++;
            int TrackIndex(string id) => catalog.Tracks.TryGet(id, out var index) ? index : -1;
            string GenreOfTrack(int t) => t < 0 ? "-" : genreOf.GetValueOrDefault(catalog.Artists.Ids[catalog.ArtistOf(t)], "?");

            using var http = new HttpClient { BaseAddress = new Uri(parse.GetValue(server)!.TrimEnd('/') + "/"), Timeout = TimeSpan.FromSeconds(30) };
            var part = parse.GetValue(model);
            // A track part cannot answer related artists: without --artist-model those come from the default.
            var artistPart = parse.GetValue(artistModel);
            var n = parse.GetValue(seeds);
            var rng = new Xoshiro256(parse.GetValue(seed), 0xE7A1);
            int[] Sample(int[] from)
            {
                var copy = (int[])from.Clone();
                for (var i = copy.Length - 1; i > 0; i--)
                {
                    var j = rng.NextInt(i + 1);
                    (copy[i], copy[j]) = (copy[j], copy[i]);
                }
                return copy[..Math.Min(n, copy.Length)];
            }
            var played = Enumerable.Range(0, catalog.TrackCount).Where(t => listeners[t] > 0).ToArray();
            var few = played.Where(t => listeners[t] <= parse.GetValue(fewListeners)).ToArray();
            string Query(string? m) => m is { Length: > 0 } ? $"&model={Uri.EscapeDataString(m)}" : "";

            var times = new Dictionary<string, List<double>>();
            async Task<JsonElement> Timed(string what, Func<Task<HttpResponseMessage>> call)
            {
                var clock = Stopwatch.StartNew();
                using var response = await call();
                var body = await response.Content.ReadAsStringAsync(ct);
                clock.Stop();
                if (!response.IsSuccessStatusCode) throw new InvalidOperationException($"{what}: HTTP {(int)response.StatusCode}: {body}");
                (times.TryGetValue(what, out var list) ? list : times[what] = []).Add(clock.Elapsed.TotalMilliseconds);
                return JsonDocument.Parse(body).RootElement.Clone();
            }
            static IEnumerable<JsonElement> Items(JsonElement e) => e.TryGetProperty("items", out var items) ? items.EnumerateArray() : [];

            // Related artists: top 20.
            double relatedSame = 0, relatedAll = 0;
            string answeredBy = "";
            foreach (var a in Sample(Enumerable.Range(0, catalog.ArtistCount).ToArray()))
            {
                var id = catalog.Artists.Ids[a];
                var r = await Timed("related", () => http.GetAsync($"v1/artists/{Uri.EscapeDataString(id)}/related?count=20{Query(artistPart)}", ct));
                answeredBy = r.TryGetProperty("model", out var by) ? by.GetString() ?? "" : "";
                foreach (var item in Items(r))
                {
                    relatedAll++;
                    if (genreOf.GetValueOrDefault(item.GetProperty("id").GetString()!) == genreOf[id]) relatedSame++;
                }
            }
            Console.WriteLine($"RelatedArtists ({answeredBy}): same genre {relatedSame / Math.Max(1, relatedAll):F3} over {relatedAll} artists of {Math.Min(n, catalog.ArtistCount)} seeds (top 20)");

            double similarSame = 0, similarAll = 0;
            foreach (var t in Sample(played))
            {
                var r = await Timed("similar", () => http.GetAsync($"v1/tracks/{Uri.EscapeDataString(catalog.Tracks.Ids[t])}/similar?count=10{Query(part)}", ct));
                answeredBy = r.TryGetProperty("model", out var by) ? by.GetString() ?? "" : "";
                foreach (var item in Items(r))
                {
                    similarAll++;
                    if (GenreOfTrack(TrackIndex(item.GetProperty("id").GetString()!)) == GenreOfTrack(t)) similarSame++;
                }
            }
            Console.WriteLine($"SimilarTracks ({answeredBy}): same genre {similarSame / Math.Max(1, similarAll):F3} over {similarAll} tracks of {Math.Min(n, played.Length)} seeds (top 10)");

            var stationTracks = parse.GetValue(radioTracks);
            // The best a station can do: with at most this many tracks per artist, a small genre cannot fill it.
            var cap = parse.GetValue(perArtist);
            var tracksOfArtist = new int[catalog.ArtistCount];
            for (var t = 0; t < catalog.TrackCount; t++) tracksOfArtist[catalog.ArtistOf(t)]++;
            var genreCapacity = new Dictionary<string, int>();
            for (var a = 0; a < catalog.ArtistCount; a++)
            {
                var genre = genreOf.GetValueOrDefault(catalog.Artists.Ids[a], "?");
                genreCapacity[genre] = genreCapacity.GetValueOrDefault(genre) + Math.Min(cap, tracksOfArtist[a]);
            }
            double Ceiling(int[] seedTracks) => seedTracks.Length == 0 ? 0
                : seedTracks.Average(t => Math.Min(stationTracks, Math.Max(0, genreCapacity[GenreOfTrack(t)] - 1)) / (double)stationTracks);
            async Task<(double Same, double All)> Radio(int[] seedTracks, bool byArtist = false)
            {
                double same = 0, all = 0;
                foreach (var t in seedTracks)
                {
                    var seedId = catalog.Tracks.Ids[t];
                    var taken = new List<string>();
                    object body = byArtist ? new { artistId = catalog.Artists.Ids[catalog.ArtistOf(t)], count = 100, model = part ?? "" } : new { trackId = seedId, count = 100, model = part ?? "" };
                    var start = await Timed("radio start", () => http.PostAsJsonAsync("v1/radio/stations", body, ct));
                    var station = start.GetProperty("stationId").GetString()!;
                    taken.AddRange(Items(start).Select(i => i.GetProperty("id").GetString()!));
                    for (var round = 0; round < 10 && taken.Count < stationTracks + 1; round++)
                    {
                        var next = await Timed("radio next", () => http.PostAsJsonAsync($"v1/radio/stations/{Uri.EscapeDataString(station)}/next", new { count = 100 }, ct));
                        var got = Items(next).Select(i => i.GetProperty("id").GetString()!).ToList();
                        if (got.Count == 0) break;
                        taken.AddRange(got);
                    }
                    // The seed plays first; the measure is over the tracks the station chose.
                    foreach (var id in taken.Where(x => x != seedId).Take(stationTracks))
                    {
                        all++;
                        if (GenreOfTrack(TrackIndex(id)) == GenreOfTrack(t)) same++;
                    }
                }
                return (same, all);
            }
            var radioSample = Sample(played);
            var (rs, ra) = await Radio(radioSample);
            Console.WriteLine($"Radio: same genre {rs / Math.Max(1, ra):F3} over the first {stationTracks} tracks of {radioSample.Length} stations ({ra} tracks); " +
                $"ceiling {Ceiling(radioSample):F3} at {cap} tracks per artist");
            var fewSample = Sample(few);
            var (fs, fa) = await Radio(fewSample);
            Console.WriteLine($"Radio, seeds with <= {parse.GetValue(fewListeners)} listeners ({few.Length} such tracks): same genre {fs / Math.Max(1, fa):F3} over {fewSample.Length} stations ({fa} tracks); ceiling {Ceiling(fewSample):F3}");
            var artistSample = Sample(played);
            var (asame, aall) = await Radio(artistSample, byArtist: true);
            Console.WriteLine($"Radio from the artists of {artistSample.Length} seed tracks: same genre {asame / Math.Max(1, aall):F3} ({aall} tracks); ceiling {Ceiling(artistSample):F3}");
            foreach (var (what, list) in times)
            {
                list.Sort();
                Console.WriteLine($"  {what}: {list.Count} calls over REST, p50 {list[list.Count / 2]:F2} ms, p99 {list[(int)Math.Min(list.Count - 1, Math.Ceiling(list.Count * 0.99) - 1)]:F2} ms");
            }
            return 0;
        });
        return command;
    }
}
