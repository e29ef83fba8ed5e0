using System.CommandLine;
using RecService.Cli;
using RecService.Cli.Commands;

// `rec`: one command line for every stage (generate -> train -> index -> serve). Each command lives in
// Commands/ and only parses options before calling into the libraries.
var root = new RootCommand("RecService: implicit ALS + ANN forest recommendations, trained and served.");
root.Add(GenerateCommand.Create());
root.Add(IngestCommand.Create());
root.Add(TrainCommand.Create());
root.Add(ServeCommand.Create());
root.Add(QueryCommand.Create());
root.Add(WorkerCommand.Create());
root.Add(DemoCommand.Create());
root.Add(IndexCommand.Create());
root.Add(EvalCommand.Create());
root.Add(BenchCommand.Create());
root.Add(PrecomputeCommand.Create());
root.Add(PublishCommand.Create());

return await CliRunner.RunAsync(root, args);
