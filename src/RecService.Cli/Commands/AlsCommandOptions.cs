using System.CommandLine;
using RecService.Models.Als;
using RecService.Training.Als;

namespace RecService.Cli.Commands;

/// <summary>The ALS hyper-parameter options shared by <c>rec eval</c> and <c>rec train</c>, defaults from <see cref="AlsOptions"/>.</summary>
public sealed class AlsCommandOptions
{
    private static readonly AlsOptions Defaults = new();

    public Option<int> Factors { get; } = new("--factors") { Description = "Latent factors f.", DefaultValueFactory = _ => Defaults.Factors };
    public Option<int> Iterations { get; } = new("--iterations") { Description = "ALS iterations (user then item half-step).", DefaultValueFactory = _ => Defaults.Iterations };
    public Option<float> Regularization { get; } = new("--regularization") { Description = "lambda, the L2 weight on every factor vector.", DefaultValueFactory = _ => Defaults.Regularization };
    public Option<float> Alpha { get; } = new("--alpha") { Description = "Confidence c = 1 + alpha * log(1 + plays/epsilon) with --scaling Log, 1 + alpha * plays with Linear.", DefaultValueFactory = _ => Defaults.Alpha };
    public Option<ConfidenceScaling> Scaling { get; } = new("--scaling") { Description = "How plays become confidence: Log (damps heavy listeners) or Linear.", DefaultValueFactory = _ => Defaults.Scaling };
    public Option<float> Epsilon { get; } = new("--epsilon") { Description = "epsilon of log scaling.", DefaultValueFactory = _ => Defaults.LogEpsilon };
    public Option<int> CgSteps { get; } = new("--cg-steps") { Description = "Conjugate-gradient steps per row.", DefaultValueFactory = _ => Defaults.ConjugateGradientSteps };
    public Option<bool> Cholesky { get; } = new("--cholesky") { Description = "Use the exact (slow) Cholesky solver instead of CG." };
    public Option<int> Threads { get; } = new("--threads") { Description = "Worker threads (0 = all cores); results do not depend on it.", DefaultValueFactory = _ => 0 };
    public Option<ulong> Seed { get; } = new("--seed") { Description = "Seed of the initial factors.", DefaultValueFactory = _ => Defaults.Seed };

    public void AddTo(Command command)
    {
        command.Add(Factors);
        command.Add(Iterations);
        command.Add(Regularization);
        command.Add(Alpha);
        command.Add(Scaling);
        command.Add(Epsilon);
        command.Add(CgSteps);
        command.Add(Cholesky);
        command.Add(Threads);
        command.Add(Seed);
    }

    public AlsOptions Read(ParseResult parse)
    {
        var options = new AlsOptions
        {
            Factors = parse.GetValue(Factors),
            Iterations = parse.GetValue(Iterations),
            Regularization = parse.GetValue(Regularization),
            Alpha = parse.GetValue(Alpha),
            Scaling = parse.GetValue(Scaling),
            LogEpsilon = parse.GetValue(Epsilon),
            ConjugateGradientSteps = parse.GetValue(CgSteps),
            Solver = parse.GetValue(Cholesky) ? AlsSolver.Cholesky : AlsSolver.ConjugateGradient,
            Threads = parse.GetValue(Threads),
            Seed = parse.GetValue(Seed),
        };
        options.Validate();
        return options;
    }

    public static string Describe(AlsOptions o) =>
        $"factors {o.Factors}, iterations {o.Iterations}, lambda {o.Regularization}, alpha {o.Alpha} ({o.Scaling}" +
        (o.Scaling == ConfidenceScaling.Log ? $", epsilon {o.LogEpsilon}" : "") + $"), solver {o.Solver}" +
        (o.Solver == AlsSolver.ConjugateGradient ? $" ({o.ConjugateGradientSteps} steps)" : "") +
        $", threads {(o.Threads == 0 ? Environment.ProcessorCount : o.Threads)}";
}
