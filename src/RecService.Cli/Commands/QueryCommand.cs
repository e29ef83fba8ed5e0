using System.CommandLine;
using Grpc.Core;
using Grpc.Net.Client;
using RecService.Api.V1;
using RecService.Hosting;
using Spectre.Console;

namespace RecService.Cli.Commands;

/// <summary><c>rec query</c>: calls a replica over gRPC, so people can try the API without writing a client.</summary>
public static class QueryCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "Replica gRPC address", DefaultValueFactory = _ => "http://127.0.0.1:8081", Recursive = true };
        var count = new Option<int>("--count") { Description = "Results (0 = the server default)", DefaultValueFactory = _ => 0, Recursive = true };
        var model = new Option<string?>("--model") { Description = "similar, related, radio start: one model part (e.g. tracks, w2v-tracks, artists, tags-artists) instead of the ensemble", Recursive = true };
        var command = new Command("query", "Call a replica over gRPC: recommend USER, similar TRACK, related ARTIST, info, plays USER TRACK[:N]..., radio start|next|like|dislike.");
        command.Add(server);
        command.Add(count);
        command.Add(model);

        var user = new Argument<string>("user") { Description = "User id" };
        var includePlayed = new Option<bool>("--include-played") { Description = "Allow tracks the user already played" };
        var exclude = new Option<string[]>("--exclude") { Description = "Track ids to leave out", AllowMultipleArgumentsPerToken = true };
        var recommend = new Command("recommend", "Tracks for a user") { user, includePlayed, exclude };
        recommend.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var request = new RecommendRequest { UserId = parse.GetValue(user)!, Count = parse.GetValue(count), ExcludePlayed = !parse.GetValue(includePlayed) };
            request.ExcludeTrackIds.AddRange(parse.GetValue(exclude) ?? []);
            var response = await client.RecommendAsync(request, cancellationToken: ct);
            Print($"Recommendations for {request.UserId} ({response.Source}{(response.Degraded ? ", degraded: Redis unreachable" : "")}), model {response.ModelVersion}", response.Items);
        }));

        var track = new Argument<string>("track") { Description = "Track id" };
        var similar = new Command("similar", "Tracks similar to a track") { track };
        similar.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var response = await client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = parse.GetValue(track)!, Count = parse.GetValue(count), Model = parse.GetValue(model) ?? "" }, cancellationToken: ct);
            Print($"Similar to {parse.GetValue(track)} by {response.Model}, model {response.ModelVersion}", response.Items);
        }));

        var artist = new Argument<string>("artist") { Description = "Artist id" };
        var related = new Command("related", "Artists related to an artist") { artist };
        related.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var response = await client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = parse.GetValue(artist)!, Count = parse.GetValue(count), Model = parse.GetValue(model) ?? "" }, cancellationToken: ct);
            Print($"Related to {parse.GetValue(artist)} by {response.Model}, model {response.ModelVersion}", response.Items);
        }));

        var playsUser = new Argument<string>("user") { Description = "User id" };
        var playsTracks = new Argument<string[]>("tracks") { Description = "TRACK or TRACK:COUNT, one or more", Arity = ArgumentArity.OneOrMore };
        var plays = new Command("plays", "Record fresh plays for a user (folded into its next recommendations)") { playsUser, playsTracks };
        plays.SetAction((parse, ct) => Call(parse.GetValue(server)!, async (client, _) =>
        {
            var request = new RecordPlaysRequest { UserId = parse.GetValue(playsUser)! };
            foreach (var token in parse.GetValue(playsTracks)!)
            {
                var colon = token.LastIndexOf(':');
                request.Plays.Add(colon > 0 && int.TryParse(token[(colon + 1)..], out var n)
                    ? new Play { TrackId = token[..colon], Count = n }
                    : new Play { TrackId = token, Count = 1 });
            }
            var response = await client.RecordPlaysAsync(request, cancellationToken: ct);
            AnsiConsole.MarkupLine($"{response.Accepted} plays recorded, {response.Unknown} unknown tracks{(response.OverLimit > 0 ? $", {response.OverLimit} over the user's limit of distinct tracks" : "")}{(response.Degraded ? " (degraded: kept by this replica only)" : "")}");
        }));

        var radio = new Command("radio", "Radio stations: start, next, like, dislike");
        var seedTrack = new Option<string?>("--track") { Description = "Seed track id" };
        var seedArtist = new Option<string?>("--artist") { Description = "Seed artist id" };
        var start = new Command("start", "Start a station from a track or an artist") { seedTrack, seedArtist };
        start.SetAction((parse, ct) => Call(parse.GetValue(server)!, async (_, radioClient) =>
        {
            var request = new StartRadioRequest { Count = parse.GetValue(count), Model = parse.GetValue(model) ?? "" };
            if (parse.GetValue(seedTrack) is { } t) request.TrackId = t;
            else if (parse.GetValue(seedArtist) is { } a) request.ArtistId = a;
            var response = await radioClient.StartRadioAsync(request, cancellationToken: ct);
            Print($"Station {response.StationId} ({response.Queued} queued), model {response.ModelVersion}", response.Items);
        }));
        var station = new Argument<string>("station") { Description = "Station id" };
        var next = new Command("next", "The station's next tracks") { station };
        next.SetAction((parse, ct) => Call(parse.GetValue(server)!, async (_, radioClient) =>
        {
            var response = await radioClient.NextTracksAsync(new NextTracksRequest { StationId = parse.GetValue(station)!, Count = parse.GetValue(count) }, cancellationToken: ct);
            Print($"Station {response.StationId} ({response.Queued} queued)", response.Items);
        }));
        radio.Add(start);
        radio.Add(next);
        foreach (var (name, thumb) in new[] { ("like", Thumb.Up), ("dislike", Thumb.Down) })
        {
            var likedStation = new Argument<string>("station") { Description = "Station id" };
            var likedTrack = new Argument<string>("track") { Description = "Track id" };
            var feedback = new Command(name, $"Thumb {(thumb == Thumb.Up ? "up" : "down")} a track of the station") { likedStation, likedTrack };
            feedback.SetAction((parse, ct) => Call(parse.GetValue(server)!, async (_, radioClient) =>
            {
                var r = await radioClient.FeedbackAsync(new FeedbackRequest { StationId = parse.GetValue(likedStation)!, TrackId = parse.GetValue(likedTrack)!, Thumb = thumb }, cancellationToken: ct);
                AnsiConsole.MarkupLine($"Station {r.StationId}: {r.Added} added, {r.Removed} removed, {r.Demoted} moved back, {r.Queued} queued");
            }));
            radio.Add(feedback);
        }

        var info = new Command("info", "The model being served");
        info.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var m = await client.GetModelInfoAsync(new GetModelInfoRequest(), cancellationToken: ct);
            AnsiConsole.MarkupLine($"[bold]Model {Markup.Escape(m.ModelVersion)}[/], created {Markup.Escape(m.CreatedUtc)} ({m.AgeSeconds:F0} s ago)");
            AnsiConsole.MarkupLine($"  {m.Users:N0} users, {m.Tracks:N0} tracks, {m.Artists:N0} artists, {m.Factors} factors");
            foreach (var (key, value) in m.Metrics.OrderBy(p => p.Key)) AnsiConsole.MarkupLine($"  {Markup.Escape(key)} = {value:G4}");
        }));

        command.Add(recommend);
        command.Add(similar);
        command.Add(related);
        command.Add(info);
        command.Add(plays);
        command.Add(radio);
        return command;
    }

    private static Task<int> Call(string address, Func<Recommender.RecommenderClient, Task> call) => Call(address, (client, _) => call(client));

    private static async Task<int> Call(string address, Func<Recommender.RecommenderClient, Radio.RadioClient, Task> call)
    {
        using var channel = GrpcChannel.ForAddress(ServiceAddress.Server(address, "--server"));
        try
        {
            await call(new Recommender.RecommenderClient(channel), new Radio.RadioClient(channel));
            return 0;
        }
        catch (RpcException ex)
        {
            Console.Error.WriteLine($"rec: {ex.StatusCode}: {ex.Status.Detail}");
            return ex.StatusCode is StatusCode.InvalidArgument or StatusCode.NotFound ? 2 : 1;
        }
    }

    private static void Print(string title, IEnumerable<Item> items)
    {
        var table = new Table().Title(Markup.Escape(title)).AddColumns("#", "id", "name", "artist", "score");
        var rank = 0;
        foreach (var item in items)
            table.AddRow((++rank).ToString(), Markup.Escape(item.Id), Markup.Escape(item.Name), Markup.Escape(item.ArtistName), item.Score.ToString("F4"));
        AnsiConsole.Write(table);
    }
}
