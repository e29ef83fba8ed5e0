using System.CommandLine;
using Microsoft.Extensions.Hosting;
using RecService.Serving;

namespace RecService.Cli.Commands;

/// <summary><c>rec serve</c>: runs a replica over a models directory until Ctrl-C.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var defaults = new ServingOptions();
        var models = new Option<string>("--models") { Description = "Models directory (versions + CURRENT)", DefaultValueFactory = _ => defaults.ModelsDirectory };
        var http = new Option<string>("--http") { Description = "REST, health and metrics endpoint", DefaultValueFactory = _ => defaults.HttpUrl };
        var grpc = new Option<string>("--grpc") { Description = "gRPC endpoint (HTTP/2 cleartext)", DefaultValueFactory = _ => defaults.GrpcUrl };
        var redis = new Option<string?>("--redis") { Description = "Redis configuration for model notices (e.g. localhost:6379)" };
        var command = new Command("serve", "Serve the current model bundle over gRPC and REST, swapping to new versions as they are published.")
        {
            models, http, grpc, redis,
        };
        command.SetAction(async (parse, ct) =>
        {
            var settings = new ConfigurationOverrides(parse)
                .Add(models, "Serving:ModelsDirectory", Path.GetFullPath)
                .Add(http, "Serving:HttpUrl")
                .Add(grpc, "Serving:GrpcUrl")
                .Add(redis, "Serving:Redis:Endpoint")
                .Settings;
            var app = ReplicaHost.Build([], settings);
            await app.StartAsync(ct);
            await app.WaitForShutdownAsync(ct);
            return 0;
        });
        return command;
    }
}
