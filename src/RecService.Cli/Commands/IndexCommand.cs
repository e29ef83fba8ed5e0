using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using RecService.Core.Bundle;
using RecService.Core.Forest;
using RecService.Core.Vectors;
using RecService.Models;
using RecService.Models.Ensemble;
using RecService.Synthetic;

namespace RecService.Cli.Commands;

/// <summary><c>rec index synth|build|bench|verify|export</c>: make benchmark data (or take a bundle's trained factors), build a
/// forest file, measure it against exact search.</summary>
public static class IndexCommand
{
    public static Command Create()
    {
        var index = new Command("index", "Build, verify and benchmark the ANN forest index.");
        index.Add(CreateSynth());
        index.Add(CreateBuild());
        index.Add(CreateBench());
        index.Add(CreateVerify());
        index.Add(CreateExport());
        return index;
    }

    private static Command CreateSynth()
    {
        var count = new Option<int>("--count") { Description = "Number of item vectors.", DefaultValueFactory = _ => 200_000 };
        var dims = new Option<int>("--dims") { Description = "Dimensions.", DefaultValueFactory = _ => 64 };
        var queries = new Option<int>("--queries") { Description = "Number of user-like query vectors.", DefaultValueFactory = _ => 1000 };
        var seed = new Option<int>("--seed") { Description = "Random seed.", DefaultValueFactory = _ => 1 };
        var decay = new Option<double>("--spectrum-decay") { Description = "Spectrum decay exponent (0 = isotropic, harder).", DefaultValueFactory = _ => new SyntheticFactors.Options(1, 2, 0, 0).SpectrumDecay };
        var outDir = new Option<string>("--out") { Description = "Output directory (vectors.npy, queries.npy).", Required = true };
        var cmd = new Command("synth", "Generate ALS-like factors (Zipf-sized clusters, heavy-tailed norms) and user-like queries as .npy.")
        {
            count, dims, queries, seed, decay, outDir,
        };
        cmd.SetAction(parseResult =>
        {
            int n = parseResult.GetValue(count), d = parseResult.GetValue(dims), nq = parseResult.GetValue(queries);
            string dir = parseResult.GetValue(outDir)!;
            var clock = Stopwatch.StartNew();
            var (items, qs) = SyntheticFactors.Generate(new SyntheticFactors.Options(n, d, nq, parseResult.GetValue(seed)) { SpectrumDecay = parseResult.GetValue(decay) });
            Directory.CreateDirectory(dir);
            NpyFile.WriteFloat32Matrix(Path.Combine(dir, "vectors.npy"), items, n, d);
            NpyFile.WriteFloat32Matrix(Path.Combine(dir, "queries.npy"), qs, nq, d);
            Console.WriteLine($"wrote {Path.Combine(dir, "vectors.npy")} ({n} x {d}) and {Path.Combine(dir, "queries.npy")} ({nq} x {d}) in {clock.Elapsed.TotalSeconds:F1} s");
            return 0;
        });
        return cmd;
    }

    private static Option<Metric> MetricOption() => new("--metric") { Description = "cosine or dot (maximum inner product).", DefaultValueFactory = _ => Metric.Cosine };
    private static Option<int> TreesOption() => new("--trees") { Description = "Number of trees.", DefaultValueFactory = _ => new ForestOptions().Trees };
    private static Option<int> LeafSizeOption() => new("--leaf-size") { Description = "Largest leaf.", DefaultValueFactory = _ => new ForestOptions().LeafSize };
    private static Option<int> SeedOption() => new("--seed") { Description = "Build seed.", DefaultValueFactory = _ => 1 };
    private static Option<int> ThreadsOption() => new("--threads") { Description = "Build threads (0 = all cores).", DefaultValueFactory = _ => 0 };
    private static readonly Option<double> s_minSplit = new("--min-split-fraction") { Description = "Smallest share of a node's items on either side of a split.", DefaultValueFactory = _ => new ForestOptions().MinSplitFraction };
    private static readonly Option<int> s_codedTrees = CodedTreesOption();

    /// <summary>--coded-trees, shared by every command that builds forests (rec index build, rec train, rec bench bundle).</summary>
    internal static Option<int> CodedTreesOption() => new("--coded-trees")
    {
        Description = "Trees with their own leaf-ordered code copy: -1 = every tree once one copy exceeds 16 MiB, else 1; 0 = every tree; N = the first N.",
        DefaultValueFactory = _ => new ForestOptions().CodedTrees,
    };
    private static readonly Option<int> s_splitSample = new("--split-sample") { Description = "Points sampled per split for the two-means.", DefaultValueFactory = _ => new ForestOptions().SplitSample };

    private static ForestOptions ReadOptions(ParseResult parseResult, Option<Metric> metric, Option<int> trees, Option<int> leafSize, Option<int> seed, Option<int> threads) => new()
    {
        Metric = parseResult.GetValue(metric), Trees = parseResult.GetValue(trees), LeafSize = parseResult.GetValue(leafSize),
        Seed = parseResult.GetValue(seed), Threads = parseResult.GetValue(threads),
        MinSplitFraction = parseResult.GetValue(s_minSplit), SplitSample = parseResult.GetValue(s_splitSample),
        CodedTrees = parseResult.GetValue(s_codedTrees),
    };

    private static Command CreateBuild()
    {
        var vectors = new Option<string>("--vectors") { Description = "Item vectors, .npy float32 2-D.", Required = true };
        var metric = MetricOption();
        var trees = TreesOption();
        var leafSize = LeafSizeOption();
        var seed = SeedOption();
        var threads = ThreadsOption();
        var output = new Option<string>("--out") { Description = "Index file to write.", Required = true };
        var cmd = new Command("build", "Build a forest index file from .npy vectors.") { vectors, metric, trees, leafSize, seed, threads, s_minSplit, s_splitSample, s_codedTrees, output };
        cmd.SetAction(parseResult =>
        {
            var (data, rows, cols) = NpyFile.ReadFloat32Matrix(parseResult.GetValue(vectors)!);
            var options = ReadOptions(parseResult, metric, trees, leafSize, seed, threads);
            PrintBuild(ForestBuilder.Build(data, rows, cols, options, parseResult.GetValue(output)!), rows, cols);
            return 0;
        });
        return cmd;
    }

    private static void PrintBuild(ForestBuildInfo info, int rows, int cols)
    {
        long raw = (long)rows * cols * sizeof(float);
        Console.WriteLine($"built {info.Path}: {info.Count} x {info.Dimensions}, {info.Trees} trees, {info.Nodes} splits, {info.Leaves} leaves");
        Console.WriteLine($"build seconds: {info.Elapsed.TotalSeconds:F2} ({Environment.ProcessorCount} cores)");
        Console.WriteLine($"file size: {info.FileBytes / 1e6:F1} MB = {(double)info.FileBytes / raw:F2} x raw vectors ({raw / 1e6:F1} MB)");
    }

    private static Command CreateExport()
    {
        var models = new Option<string>("--models") { Description = "Models directory (its CURRENT bundle is exported).", Required = true };
        var outDir = new Option<string>("--out") { Description = "Directory for the .npy files.", Required = true };
        var cmd = new Command("export", "Write a bundle's dense factor matrices as .npy: <part>.item-factors.npy (cosine queries and the items searched) and, where a part has them, <part>.user-factors.npy (the MIPS queries of Recommend).") { models, outDir };
        cmd.SetAction(parseResult =>
        {
            using var bundle = CurrentBundle.Open(parseResult.GetValue(models)!);
            var target = parseResult.GetValue(outDir)!;
            Directory.CreateDirectory(target);
            foreach (var part in bundle.Parts)
            {
                foreach (var (role, matrix) in part.Matrices)
                {
                    if (role is not (PartRoles.ItemFactors or PartRoles.UserFactors) || part.Family == BlendFamily.Name) continue;
                    var path = Path.Combine(target, $"{part.Name}.{role}.npy");
                    NpyFile.WriteFloat32Matrix(path, matrix.All, matrix.Rows, matrix.Columns);
                    Console.WriteLine($"{path}: {matrix.Rows} x {matrix.Columns}");
                }
            }
            return 0;
        });
        return cmd;
    }

    private static Command CreateVerify()
    {
        var indexPath = new Option<string>("--index") { Description = "Index file.", Required = true };
        var cmd = new Command("verify", "Check an index file completely (checksum and every index).") { indexPath };
        cmd.SetAction(parseResult =>
        {
            var clock = Stopwatch.StartNew();
            using var index = ForestIndex.Open(parseResult.GetValue(indexPath)!);
            index.Verify();
            Console.WriteLine($"ok: {index.Count} x {index.Dimensions} {index.Metric}, {index.Trees} trees, {index.FileBytes} bytes, verified in {clock.Elapsed.TotalMilliseconds:F0} ms");
            return 0;
        });
        return cmd;
    }

    private static Command CreateBench()
    {
        var indexPath = new Option<string>("--index") { Description = "Index file (built first when --build is given).", Required = true };
        var vectors = new Option<string>("--vectors") { Description = "The item vectors the index was built from (.npy), for exact ground truth.", Required = true };
        var queries = new Option<string>("--queries") { Description = "Query vectors (.npy).", Required = true };
        var k = new Option<int>("--k") { Description = "Results per query.", DefaultValueFactory = _ => 10 };
        var searchK = new Option<int[]>("--search-k")
        {
            Description = "Candidates scored per query; several values make a sweep.",
            DefaultValueFactory = _ => [250, 500, 1000, 2000, 3000, 4000, 6000, 8000],
            AllowMultipleArgumentsPerToken = true,
        };
        var rerank = new Option<int>("--rerank") { Description = "Best code-scored candidates re-scored in float32 (-1: the index's default, 20 dot / 32 cosine).", DefaultValueFactory = _ => -1 };
        var stopSlack = new Option<float>("--stop-slack")
        {
            Description = "Early stop: end a query once its remaining cells look unable to beat the kept candidates; larger stops sooner, 0 = off, -1 = the index default.",
            DefaultValueFactory = _ => -1f,
        };
        var build = new Option<bool>("--build") { Description = "Build the index from --vectors first (with --metric, --trees, ...) and report the build." };
        var maxQueries = new Option<int>("--max-queries") { Description = "Use at most this many queries, evenly spaced over the file (0 = all): a bundle's user factors hold every user.", DefaultValueFactory = _ => 0 };
        var metric = MetricOption();
        var trees = TreesOption();
        var leafSize = LeafSizeOption();
        var seed = SeedOption();
        var threads = ThreadsOption();
        var cmd = new Command("bench", "Single-thread queries/second and recall@k against exact search, for a sweep of search sizes.")
        {
            indexPath, vectors, queries, k, searchK, rerank, stopSlack, build, maxQueries, metric, trees, leafSize, seed, threads, s_minSplit, s_splitSample, s_codedTrees,
        };
        cmd.SetAction(parseResult =>
        {
            string path = parseResult.GetValue(indexPath)!;
            var (items, rows, cols) = NpyFile.ReadFloat32Matrix(parseResult.GetValue(vectors)!);
            var (qs, nq, qd) = NpyFile.ReadFloat32Matrix(parseResult.GetValue(queries)!);
            if (qd != cols) throw new ArgumentException($"queries have {qd} dimensions, vectors {cols}.");
            if (parseResult.GetValue(maxQueries) is var most and > 0 && most < nq)
            {
                var picked = new float[most * cols];
                for (var q = 0; q < most; q++) qs.AsSpan((int)((long)q * nq / most) * cols, cols).CopyTo(picked.AsSpan(q * cols));
                (qs, nq) = (picked, most);
            }
            if (parseResult.GetValue(build))
            {
                var options = ReadOptions(parseResult, metric, trees, leafSize, seed, threads);
                PrintBuild(ForestBuilder.Build(items, rows, cols, options, path), rows, cols);
            }
            Run(path, items, rows, cols, qs, nq, parseResult.GetValue(k), parseResult.GetValue(searchK)!, parseResult.GetValue(rerank), parseResult.GetValue(stopSlack));
            return 0;
        });
        return cmd;
    }

    private static unsafe void Run(string path, float[] items, int rows, int cols, float[] queries, int nq, int k, int[] sweep, int rerank, float stopSlack)
    {
        var openClock = Stopwatch.StartNew();
        // A forest written into a bundle leaves its vectors to the bundle's matrix: the .npy vectors stand in for it.
        using var pinned = new PinnedVectors(items);
        using var index = ForestIndex.Open(path, new ExternalVectors(pinned.Data, rows, cols));
        double openMs = openClock.Elapsed.TotalMilliseconds;
        if (index.Count != rows || index.Dimensions != cols) throw new ArgumentException($"index is {index.Count} x {index.Dimensions}, vectors are {rows} x {cols}.");
        var tuned = new ForestSearchOptions(StopSlack: stopSlack, Rerank: rerank).Or(index.DefaultOptions);
        long raw = (long)rows * cols * sizeof(float);
        Console.WriteLine($"index {path}: {index.Metric}, {index.Count} x {index.Dimensions}, {index.Trees} trees, leaf size {index.LeafSize}, opened in {openMs:F2} ms");
        Console.WriteLine($"file size: {index.FileBytes / 1e6:F1} MB = {(double)index.FileBytes / raw:F2} x raw vectors");
        if (index.TunedRecall > 0)
            Console.WriteLine($"default search tuned at build: search-k {index.DefaultOptions.SearchK}, stop slack {index.DefaultOptions.StopSlack}, recall@10 {index.TunedRecall:F4} on its tuning queries");

        var exactClock = Stopwatch.StartNew();
        var exact = new ExactSearch(items, rows, cols, index.Metric);
        var truthIds = new int[nq * k];
        var truthScores = new float[nq * k];
        exact.SearchBatch(queries, nq, k, truthIds, truthScores);
        Console.WriteLine($"exact top-{k} for {nq} queries (brute force, {Environment.ProcessorCount} threads): {exactClock.Elapsed.TotalSeconds:F2} s");

        var ids = new int[k];
        var scores = new float[k];
        var truth = new HashSet<int>();
        Console.WriteLine($"single thread, one query per call, k={k}, rerank={tuned.Rerank}, stop slack {tuned.StopSlack}{(tuned.StopSlack > 0 ? "" : " (off)")}");
        Console.WriteLine($"{"search-k",9} {"q/s med",9} {"q/s best",9} {"us/q med",9} {"recall@" + k,10} {"alloc B/q",9} {"cpu q/s",10} {$"q/s {Environment.ProcessorCount} thr",11} {"scored",8}");
        const int Passes = 5;
        foreach (int sk in sweep)
        {
            // Warm-up pass: JIT tiers, page cache, and the recall figure.
            long hits = 0, scored = 0;
            var options = tuned with { SearchK = sk };
            for (int q = 0; q < nq; q++)
            {
                int n = index.Search(queries.AsSpan(q * cols, cols), k, ids, scores, options, default, out var stats);
                scored += stats.Scored;
                truth.Clear();
                for (int j = 0; j < k; j++) truth.Add(truthIds[q * k + j]);
                for (int j = 0; j < n; j++) if (truth.Contains(ids[j])) hits++;
            }
            double recall = (double)hits / ((long)nq * k);
            // Timed passes: five, each running the query set until at least 0.3 s has elapsed. On a shared machine the
            // passes differ by tens of percent; the median and the best are both printed, and cpu q/s divides by the
            // process's CPU time (discounting time the thread sat descheduled, not cache interference).
            var wall = new double[Passes];
            var cpuRate = new double[Passes];
            long allocated = 0, totalQueries = 0;
            for (int pass = 0; pass < Passes; pass++)
            {
                var cpu = Process.GetCurrentProcess().TotalProcessorTime;
                long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
                var clock = Stopwatch.StartNew();
                long done = 0;
                do
                {
                    for (int q = 0; q < nq; q++) index.Search(queries.AsSpan(q * cols, cols), k, ids, scores, options);
                    done += nq;
                } while (clock.Elapsed.TotalSeconds < 0.3);
                double seconds = clock.Elapsed.TotalSeconds;
                allocated += GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
                double cpuSeconds = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
                wall[pass] = done / seconds;
                cpuRate[pass] = done / Math.Max(cpuSeconds, 1e-9);
                totalQueries += done;
            }
            Array.Sort(wall);
            Array.Sort(cpuRate);
            double parallelRate = Concurrent(index, queries, nq, cols, k, options);
            Console.WriteLine($"{sk,9} {wall[Passes / 2],9:F0} {wall[Passes - 1],9:F0} {1e6 / wall[Passes / 2],9:F1} {recall,10:F4} {(double)allocated / totalQueries,9:F1} {cpuRate[Passes / 2],10:F0} {parallelRate,11:F0} {(double)scored / nq,8:F0}");
        }
    }

    /// <summary>Aggregate queries/second with one querying thread per core (the serving situation), for 0.5 s.</summary>
    private static double Concurrent(ForestIndex index, float[] queries, int nq, int cols, int k, ForestSearchOptions options)
    {
        int threads = Environment.ProcessorCount;
        long total = 0;
        var clock = Stopwatch.StartNew();
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
        {
            var ids = new int[k];
            var scores = new float[k];
            long done = 0;
            for (int q = t * 37 % nq; clock.Elapsed.TotalSeconds < 0.5; q = (q + 1) % nq, done++)
                index.Search(queries.AsSpan(q * cols, cols), k, ids, scores, options);
            Interlocked.Add(ref total, done);
        });
        return total / clock.Elapsed.TotalSeconds;
    }

    /// <summary>Keeps the benchmark's vectors at a fixed address while an index built with external vectors reads them.</summary>
    private sealed unsafe class PinnedVectors(float[] items) : IDisposable
    {
        private GCHandle _handle = GCHandle.Alloc(items, GCHandleType.Pinned);

        public float* Data => (float*)_handle.AddrOfPinnedObject();

        public void Dispose() => _handle.Free();
    }
}
