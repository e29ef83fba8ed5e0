using RecService.Core.Sparse;
using RecService.Training.Als;
using Spectre.Console;

namespace RecService.Cli.Commands;

/// <summary>Runs ALS under a Spectre.Console progress bar, printing each iteration's time and loss above it.</summary>
public static class TrainingProgress
{
    public static AlsModel Train(AlsOptions options, CsrMatrix matrix, string label, bool quiet, List<AlsIterationReport> reports, CancellationToken ct = default)
    {
        var trainer = new AlsTrainer(options);
        if (quiet) return trainer.Train(matrix, reports.Add, ct);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(label)}[/]: {matrix.Rows:N0} x {matrix.Columns:N0}, {matrix.NonZeros:N0} nnz; {Markup.Escape(AlsCommandOptions.Describe(options))}");
        if (Console.IsOutputRedirected)
        {
            // Logs and pipes get the iteration lines only: a redrawn bar there turns into noise.
            return trainer.Train(matrix, report =>
            {
                reports.Add(report);
                Console.WriteLine(IterationLine(report));
            }, ct);
        }
        AlsModel? model = null;
        AnsiConsole.Progress()
            .AutoClear(true)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .Start(context =>
            {
                var task = context.AddTask(Markup.Escape(label), maxValue: Math.Max(1, options.Iterations));
                model = trainer.Train(matrix, report =>
                {
                    reports.Add(report);
                    AnsiConsole.WriteLine(IterationLine(report));
                    task.Increment(1);
                }, ct);
            });
        return model!;
    }

    private static string IterationLine(AlsIterationReport report) =>
        $"  iteration {report.Iteration,3}: {report.Elapsed.TotalSeconds,7:F3} s  loss {report.Loss:E6}  ({report.LossPerNonZero:F5} per nnz)";
}
