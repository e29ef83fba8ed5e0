using System.CommandLine;
using Grpc.Core;
using Grpc.Net.Client;
using RecService.Api.V1;
using Spectre.Console;

namespace RecService.Cli.Commands;

/// <summary><c>rec query</c>: calls a replica over gRPC, so people can try the API without writing a client.</summary>
public static class QueryCommand
{
    public static Command Create()
    {
        var server = new Option<string>("--server") { Description = "Replica gRPC address", DefaultValueFactory = _ => "http://127.0.0.1:8081", Recursive = true };
        var count = new Option<int>("--count") { Description = "Results (0 = the server default)", DefaultValueFactory = _ => 0, Recursive = true };
        var command = new Command("query", "Call a replica over gRPC: recommend USER, similar TRACK, related ARTIST, or info.");
        command.Add(server);
        command.Add(count);

        var user = new Argument<string>("user") { Description = "User id" };
        var includePlayed = new Option<bool>("--include-played") { Description = "Allow tracks the user already played" };
        var exclude = new Option<string[]>("--exclude") { Description = "Track ids to leave out", AllowMultipleArgumentsPerToken = true };
        var recommend = new Command("recommend", "Tracks for a user") { user, includePlayed, exclude };
        recommend.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var request = new RecommendRequest { UserId = parse.GetValue(user)!, Count = parse.GetValue(count), ExcludePlayed = !parse.GetValue(includePlayed) };
            request.ExcludeTrackIds.AddRange(parse.GetValue(exclude) ?? []);
            var response = await client.RecommendAsync(request, cancellationToken: ct);
            Print($"Recommendations for {request.UserId}{(response.Fallback ? " (unknown user: popular tracks)" : "")}, model {response.ModelVersion}", response.Items);
        }));

        var track = new Argument<string>("track") { Description = "Track id" };
        var similar = new Command("similar", "Tracks similar to a track") { track };
        similar.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var response = await client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = parse.GetValue(track)!, Count = parse.GetValue(count) }, cancellationToken: ct);
            Print($"Similar to {parse.GetValue(track)}, model {response.ModelVersion}", response.Items);
        }));

        var artist = new Argument<string>("artist") { Description = "Artist id" };
        var related = new Command("related", "Artists related to an artist") { artist };
        related.SetAction((parse, ct) => Call(parse.GetValue(server)!, async client =>
        {
            var response = await client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = parse.GetValue(artist)!, Count = parse.GetValue(count) }, cancellationToken: ct);
            Print($"Related to {parse.GetValue(artist)}, model {response.ModelVersion}", response.Items);
        }));

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
        return command;
    }

    private static async Task<int> Call(string address, Func<Recommender.RecommenderClient, Task> call)
    {
        using var channel = GrpcChannel.ForAddress(address);
        try
        {
            await call(new Recommender.RecommenderClient(channel));
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
