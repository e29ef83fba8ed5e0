using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using RecService.Core.Bundle;
using RecService.Serving;
using RecService.Serving.Models;
using RecService.Synthetic;
using RecService.Training.Pipeline;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec demo</c>: the whole service on an embedded default, for a newcomer with nothing but the .NET SDK:
/// a sample world is generated, trained and published, and a replica serves it on 127.0.0.1 until Ctrl-C.
/// </summary>
public static class DemoCommand
{
    public static Command Create()
    {
        var dir = new Option<string>("--dir") { Description = "Working directory for the sample world and models", DefaultValueFactory = _ => "demo-data" };
        var users = new Option<int>("--users") { Description = "Users in the sample world", DefaultValueFactory = _ => new SampleWorldOptions().Users };
        var http = new Option<string>("--http") { Description = "REST endpoint", DefaultValueFactory = _ => "http://127.0.0.1:8080" };
        var grpc = new Option<string>("--grpc") { Description = "gRPC endpoint", DefaultValueFactory = _ => "http://127.0.0.1:8081" };
        var command = new Command("demo", "Generate a sample world, train, publish and serve it on 127.0.0.1 (no Redis needed) until Ctrl-C.")
        {
            dir, users, http, grpc,
        };
        command.SetAction(async (parse, ct) =>
        {
            var root = Path.GetFullPath(parse.GetValue(dir)!);
            var clock = Stopwatch.StartNew();
            var worldOptions = new SampleWorldOptions { Users = parse.GetValue(users) };
            Console.WriteLine($"1/3 Generating a sample world in {root}: {worldOptions.Users:N0} users, {worldOptions.Artists:N0} artists, {worldOptions.Tracks:N0} tracks, {worldOptions.Days} days");
            var world = SampleWorldGenerator.Generate(worldOptions, root);
            Console.WriteLine($"    {world.Plays:N0} plays in {world.Rows:N0} rows");

            Console.WriteLine("2/3 Training the track and artist models and the ensemble, evaluating, publishing a bundle");
            var store = new BundleStore(Path.Combine(root, "models"));
            var manifest = await TrainCommand.RunAsync(new TrainingJobOptions
            {
                SnapshotsDirectory = world.SnapshotsDirectory,
                CatalogDirectory = world.CatalogDirectory,
            }, store, keep: 3, ct);

            Console.WriteLine("3/3 Starting a replica");
            var app = ReplicaHost.Build([], new Dictionary<string, string?>
            {
                ["Serving:ModelsDirectory"] = store.Root,
                ["Serving:HttpUrl"] = parse.GetValue(http),
                ["Serving:GrpcUrl"] = parse.GetValue(grpc),
                ["Serilog:MinimumLevel:Default"] = "Warning",
            });
            await app.StartAsync(ct);
            // The watcher loads the bundle in the background; print the examples once they will answer.
            var holder = app.Services.GetRequiredService<ModelHolder>();
            for (var i = 0; i < 200 && holder.Current is null; i++) await Task.Delay(50, ct);
            var rest = parse.GetValue(http)!.TrimEnd('/');
            var rpc = parse.GetValue(grpc)!;
            var user = "u" + 1.ToString().PadLeft(Math.Max(1, (worldOptions.Users - 1).ToString().Length), '0');
            Console.WriteLine($"""

                Serving model {manifest!.ModelVersion} ({clock.Elapsed.TotalSeconds:F1} s from start). Try:

                  curl '{rest}/v1/users/{user}/recommendations?count=5'
                  curl '{rest}/v1/tracks/tr0001/similar?count=5'
                  curl '{rest}/v1/artists/ar001/related?count=5'
                  curl '{rest}/v1/artists/ar001/related?count=5&model=artists'   (one part alone)
                  curl '{rest}/v1/model'
                  curl '{rest}/readyz'   curl '{rest}/metrics'

                  dotnet run -c Release --project src/RecService.Cli -- query --server {rpc} recommend {user} --count 5
                  dotnet run -c Release --project src/RecService.Cli -- query --server {rpc} related ar001

                Ctrl-C stops the demo.
                """);
            await app.WaitForShutdownAsync(ct);
            return 0;
        });
        return command;
    }
}
