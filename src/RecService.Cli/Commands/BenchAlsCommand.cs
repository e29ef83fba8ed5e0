using System.CommandLine;
using System.Diagnostics;
using RecService.Core.Sparse;
using RecService.Ingest.Logs;
using RecService.Synthetic;
using RecService.Training.Als;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec bench als`: times ALS iterations on a synthetic matrix of the requested shape and prints ms/iteration,
/// nnz/s and GFLOP/s, counting CG at 32 f flops per nnz plus 10 f^2 per row per iteration (both half-steps).
/// </summary>
public static class BenchAlsCommand
{
    public static Command Create()
    {
        var users = new Option<int>("--users") { Description = "Rows (users) of the synthetic matrix.", DefaultValueFactory = _ => 100_000 };
        var items = new Option<int>("--items") { Description = "Columns (items).", DefaultValueFactory = _ => 20_000 };
        var nnz = new Option<long>("--nnz") { Description = "Distinct (user, item) pairs wanted (before de-duplication).", DefaultValueFactory = _ => 2_500_000 };
        var density = new Option<double?>("--density") { Description = "Alternative to --nnz: fraction of cells filled." };
        var factors = new Option<int>("--factors") { Description = "Latent factors f.", DefaultValueFactory = _ => 64 };
        var iterations = new Option<int>("--iterations") { Description = "Timed iterations.", DefaultValueFactory = _ => 5 };
        var warmup = new Option<int>("--warmup") { Description = "Untimed iterations first (JIT, page faults).", DefaultValueFactory = _ => 1 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (0 = all cores).", DefaultValueFactory = _ => 0 };
        var cgSteps = new Option<int>("--cg-steps") { Description = "CG steps per row.", DefaultValueFactory = _ => 3 };
        var cholesky = new Option<bool>("--cholesky") { Description = "Time the exact Cholesky solver instead of CG." };
        var seed = new Option<ulong>("--seed") { Description = "Seed of the synthetic matrix and the factors.", DefaultValueFactory = _ => 7 };
        var snapshots = new Option<string?>("--snapshots") { Description = "Time on the users x tracks matrix of these snapshot logs (e.g. from rec generate) instead of a synthetic one." };

        var command = new Command("als", "Time ALS iterations on a synthetic users x items matrix.")
        {
            users, items, nnz, density, factors, iterations, warmup, threads, cgSteps, cholesky, seed, snapshots,
        };
        command.SetAction(async (parse, ct) =>
        {
            var clock = Stopwatch.StartNew();
            CsrMatrix matrix;
            if (parse.GetValue(snapshots) is { } dir)
            {
                matrix = (await SnapshotSet.Discover(dir).ReadAsync(ct: ct)).UserTrack;
                Console.WriteLine($"matrix: users x tracks of {dir}: {matrix.Rows:N0} x {matrix.Columns:N0}, {matrix.NonZeros:N0} nnz (read in {clock.Elapsed.TotalSeconds:F1} s)");
            }
            else
            {
                var rows = parse.GetValue(users);
                var columns = parse.GetValue(items);
                var wanted = parse.GetValue(density) is { } d ? (long)(d * rows * columns) : parse.GetValue(nnz);
                matrix = SyntheticInteractions.Generate(rows, columns, wanted, parse.GetValue(seed));
                Console.WriteLine($"matrix: synthetic {matrix.Rows:N0} x {matrix.Columns:N0}, {matrix.NonZeros:N0} nnz (built in {clock.Elapsed.TotalSeconds:F1} s)");
            }
            return Run(matrix, new AlsOptions
            {
                Factors = parse.GetValue(factors),
                Iterations = parse.GetValue(warmup) + parse.GetValue(iterations),
                Threads = parse.GetValue(threads),
                ConjugateGradientSteps = parse.GetValue(cgSteps),
                Solver = parse.GetValue(cholesky) ? AlsSolver.Cholesky : AlsSolver.ConjugateGradient,
                Seed = parse.GetValue(seed),
            }, parse.GetValue(warmup));
        });
        return command;
    }

    /// <summary>Trains and prints per-iteration and median figures; shared with benchmarks that read real logs.</summary>
    public static int Run(CsrMatrix matrix, AlsOptions options, int warmup)
    {
        var f = options.Factors;
        var flopsPerIteration = 32.0 * f * matrix.NonZeros + 10.0 * f * f * (matrix.Rows + matrix.Columns);
        Console.WriteLine($"factors {f}, threads {(options.Threads == 0 ? Environment.ProcessorCount : options.Threads)}, solver {options.Solver}" +
            (options.Solver == AlsSolver.ConjugateGradient ? $" ({options.ConjugateGradientSteps} steps)" : "") +
            $", {Environment.ProcessorCount} cores, {(System.Runtime.Intrinsics.Vector512.IsHardwareAccelerated ? "AVX-512" : System.Runtime.Intrinsics.Vector256.IsHardwareAccelerated ? "AVX2" : "no SIMD")}");
        var timed = new List<double>();
        // Process CPU time per iteration next to wall time: on a shared machine, wall time well above CPU time / threads
        // means the benchmark was waiting for cores, not computing.
        var process = Process.GetCurrentProcess();
        var cpuBefore = process.TotalProcessorTime;
        new AlsTrainer(options).Train(matrix, report =>
        {
            process.Refresh();
            var cpu = process.TotalProcessorTime - cpuBefore;
            cpuBefore = process.TotalProcessorTime;
            var seconds = report.Elapsed.TotalSeconds;
            var tag = report.Iteration <= warmup ? "warm-up" : "timed";
            if (report.Iteration > warmup) timed.Add(seconds);
            Console.WriteLine($"iteration {report.Iteration,3} ({tag}): {seconds * 1000,8:F1} ms (users {report.UserStep.TotalMilliseconds:F1} + items {report.ItemStep.TotalMilliseconds:F1}), cpu {cpu.TotalMilliseconds,7:F0} ms, loss/nnz {report.LossPerNonZero:F5}");
        });
        if (timed.Count == 0) return 0;
        timed.Sort();
        var median = timed[timed.Count / 2];
        Console.WriteLine($"median {median * 1000:F1} ms/iteration (best {timed[0] * 1000:F1}), " +
            $"{matrix.NonZeros / median / 1e6:F2} M nnz/s, {flopsPerIteration / median / 1e9:F2} GFLOP/s " +
            $"(model: 32f per nnz + 10f^2 per row = {flopsPerIteration / 1e9:F2} GFLOP/iteration)");
        return 0;
    }
}
