using System.CommandLine;

namespace RecService.Cli.Commands;

/// <summary>`rec bench`: speed benchmarks, one subcommand per component (measured by commands, never by unit tests).</summary>
public static class BenchCommand
{
    public static Command Create()
    {
        var command = new Command("bench", "Speed benchmarks (Release build; close other work for stable figures).");
        command.Add(BenchAlsCommand.Create());
        command.Add(BenchBundleCommand.Create());
        command.Add(BenchServeCommand.Create());
        command.Add(BenchStartCommand.Create());
        command.Add(BenchFoldInCommand.Create());
        command.Add(BenchRecommendCommand.Create());
        command.Add(BenchWord2VecCommand.Create());
        command.Add(BenchPrecomputeCommand.Create());
        return command;
    }
}
