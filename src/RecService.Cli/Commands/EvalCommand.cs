using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using RecService.Core.Ids;
using RecService.Ingest.Catalog;
using RecService.Ingest.Logs;
using RecService.Training.Als;
using RecService.Training.Evaluation;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec eval</c>: trains ALS on one interactions file (<c>user&lt;TAB&gt;item&lt;TAB&gt;value</c>) and scores it on
/// another (or on a seeded random hold-out of the first), next to the popularity baseline.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var train = new Option<string?>("--train") { Description = "Training interactions: user<TAB>item<TAB>value." };
        var snapshots = new Option<string?>("--snapshots") { Description = "Instead of --train: snapshot logs, split by time (train on all but the latest snapshot, test on the latest's new pairs)." };
        var catalog = new Option<string?>("--catalog") { Description = "With --snapshots: catalog directory (needed for --artists)." };
        var artists = new Option<bool>("--artists") { Description = "With --snapshots and --catalog: evaluate the users x artists model instead of users x tracks." };
        var test = new Option<string?>("--test") { Description = "Test interactions in the same format; without it, --holdout of --train is held out." };
        var holdout = new Option<double>("--holdout") { Description = "Fraction of --train pairs held out when there is no --test.", DefaultValueFactory = _ => 0.2 };
        var splitSeed = new Option<ulong>("--split-seed") { Description = "Seed of the random hold-out.", DefaultValueFactory = _ => 1 };
        var k = new Option<int>("--k") { Description = "Cut-off k of precision@k, MAP@k and NDCG@k.", DefaultValueFactory = _ => 10 };
        var maxUsers = new Option<int>("--max-users") { Description = "Evaluate a seeded sample of at most this many test users (0 = all).", DefaultValueFactory = _ => 0 };
        var json = new Option<bool>("--json") { Description = "Print one JSON document instead of text." };
        var names = new Option<string?>("--names") { Description = "item<TAB>name file, for --similar." };
        var similar = new Option<string?>("--similar") { Description = "Semicolon-separated item names (or ids): print their 10 nearest items by cosine." };
        var halfLife = TrainCommand.HalfLifeOption();
        halfLife.Description = "With --snapshots: weight each training play by 0.5^(age in days / this), age from the newest training snapshot (or timestamp); 0 = off.";
        var als = new AlsCommandOptions();

        var command = new Command("eval", "Train ALS on one file and report precision@k, MAP@k, NDCG@k and AUC on held-out interactions, against popularity.")
        {
            train, test, snapshots, catalog, artists, holdout, splitSeed, k, maxUsers, json, names, similar, halfLife,
        };
        als.AddTo(command);
        command.Add(EvalRelatedCommand.Create());
        command.Add(EvalTagsCommand.Create());
        command.Add(TrainCommand.CreateEvaluation());
        command.SetAction(async (parse, ct) =>
        {
            var options = als.Read(parse);
            var quiet = parse.GetValue(json);
            Holdout split;
            IdMap itemIds;
            if (parse.GetValue(snapshots) is { } snapshotDir)
            {
                (split, itemIds) = await TimeSplitAsync(snapshotDir, parse.GetValue(catalog), parse.GetValue(artists), TrainCommand.HalfLife(parse.GetValue(halfLife)), ct);
            }
            else
            {
                var trainPath = parse.GetValue(train) ?? throw new ArgumentException("Give --train FILE (with --test FILE or --holdout) or --snapshots DIR.");
                var trainData = await PlayLogFile.ReadInteractionsAsync(trainPath, ct: ct);
                itemIds = trainData.Tracks;
                if (parse.GetValue(test) is { } testPath)
                {
                    var testData = await PlayLogFile.ReadInteractionsAsync(testPath, ct: ct);
                    split = HoldoutSplit.Align(trainData.UserTrack, trainData.Users, trainData.Tracks, testData.UserTrack, testData.Users, testData.Tracks);
                }
                else split = HoldoutSplit.Random(trainData.UserTrack, parse.GetValue(holdout), parse.GetValue(splitSeed));
            }

            var reports = new List<AlsIterationReport>();
            var clock = Stopwatch.StartNew();
            AlsModel model;
            try
            {
                model = TrainingProgress.Train(options, split.Train, "ALS", quiet, reports, ct);
            }
            catch (TrainingDivergedException diverged)
            {
                // Nothing is scored or printed as metrics from a model that went NaN/Inf.
                Console.Error.WriteLine($"rec eval: {diverged.Message}");
                return 3;
            }
            var trainSeconds = clock.Elapsed.TotalSeconds;
            var cutoff = parse.GetValue(k);
            clock.Restart();
            var results = new[]
            {
                RankingEvaluator.Evaluate(split, new FactorScorer(model), cutoff, options.Threads, parse.GetValue(maxUsers)),
                RankingEvaluator.Evaluate(split, new PopularityScorer(split.Train), cutoff, options.Threads, parse.GetValue(maxUsers)),
            };
            var evalSeconds = clock.Elapsed.TotalSeconds;
            var neighbours = Similar(model, itemIds, parse.GetValue(names), parse.GetValue(similar));

            if (quiet)
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    train = new { users = split.Train.Rows, items = split.Train.Columns, nnz = split.Train.NonZeros },
                    test = new { nnz = split.Test.NonZeros, droppedUnknown = split.DroppedUnknown, droppedSeen = split.DroppedSeen },
                    options = new { options.Factors, options.Iterations, options.Regularization, options.Alpha, scaling = options.Scaling.ToString(), options.LogEpsilon, solver = options.Solver.ToString(), options.ConjugateGradientSteps, options.Seed },
                    iterations = reports.Select(r => new { r.Iteration, seconds = r.Elapsed.TotalSeconds, r.Loss }),
                    trainSeconds,
                    evalSeconds,
                    metrics = results.Select(r => new { model = r.Model, k = r.K, users = r.Users, precision = r.Precision, map = r.MeanAveragePrecision, ndcg = r.Ndcg, auc = r.Auc }),
                    similar = neighbours.Select(n => new { item = n.Query, neighbours = n.Neighbours.Select(x => new { name = x.Name, cosine = x.Cosine }) }),
                }, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase }));
                return 0;
            }
            Console.WriteLine($"train {split.Train.Rows:N0} users x {split.Train.Columns:N0} items, {split.Train.NonZeros:N0} nnz; test {split.Test.NonZeros:N0} pairs" +
                (split.DroppedUnknown + split.DroppedSeen > 0 ? $" ({split.DroppedUnknown:N0} with unknown user/item and {split.DroppedSeen:N0} already in train dropped)" : ""));
            Console.WriteLine($"trained in {trainSeconds:F2} s ({reports.Average(r => r.Elapsed.TotalSeconds) * 1000:F0} ms/iteration), evaluated in {evalSeconds:F2} s");
            Console.WriteLine($"{"model",-12} {"users",7} {"P@" + cutoff,8} {"MAP@" + cutoff,8} {"NDCG@" + cutoff,8} {"AUC",8}");
            foreach (var r in results)
                Console.WriteLine($"{r.Model,-12} {r.Users,7} {r.Precision,8:F4} {r.MeanAveragePrecision,8:F4} {r.Ndcg,8:F4} {r.Auc,8:F4}");
            foreach (var (query, list) in neighbours)
                Console.WriteLine($"nearest to {query}: {string.Join(", ", list.Select(x => $"{x.Name} ({x.Cosine:F2})"))}");
            return 0;
        });
        return command;
    }

    /// <summary>Train on every snapshot but the latest; test on the latest's pairs that train does not already have.</summary>
    private static async Task<(Holdout Split, IdMap Items)> TimeSplitAsync(string directory, string? catalogDirectory, bool artists, double halfLifeDays, CancellationToken ct)
    {
        var set = SnapshotSet.Discover(directory);
        if (set.Snapshots.Count < 2) throw new ArgumentException($"A time split needs at least two snapshots in {directory}; found {set.Snapshots.Count}.");
        if (artists && catalogDirectory is null) throw new ArgumentException("--artists needs --catalog.");
        var catalog = catalogDirectory is null ? null : TrackCatalog.Load(catalogDirectory);
        var earlier = await set.ReadAsync([.. set.Snapshots.Take(set.Snapshots.Count - 1)], catalog, new PlayReadOptions { RecencyHalfLifeDays = halfLifeDays }, ct);
        var latest = await set.ReadAsync([set.Snapshots[^1]], catalog, ct: ct);
        if (artists)
        {
            var artistIds = catalog!.Artists;
            return (HoldoutSplit.Align(earlier.UserArtist!, earlier.Users, artistIds, latest.UserArtist!, latest.Users, artistIds), artistIds);
        }
        return (HoldoutSplit.Align(earlier.UserTrack, earlier.Users, earlier.Tracks, latest.UserTrack, latest.Users, latest.Tracks), earlier.Tracks);
    }

    private static List<(string Query, List<(string Name, float Cosine)> Neighbours)> Similar(AlsModel model, IdMap items, string? namesPath, string? queries)
    {
        var result = new List<(string, List<(string, float)>)>();
        if (string.IsNullOrWhiteSpace(queries)) return result;
        // Item id -> display name, and name -> id, from the optional names file.
        var nameOf = new Dictionary<string, string>(StringComparer.Ordinal);
        var idOf = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (namesPath is not null)
        {
            foreach (var line in File.ReadLines(namesPath))
            {
                var tab = line.IndexOf('\t');
                if (tab <= 0) continue;
                var id = line[..tab];
                var name = line[(tab + 1)..];
                nameOf[id] = name;
                idOf.TryAdd(name, id);
            }
        }
        foreach (var raw in queries.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var id = idOf.TryGetValue(raw, out var byName) ? byName : raw;
            if (!items.TryGet(id, out var index)) throw new ArgumentException($"--similar: '{raw}' is not an item of the training data.");
            var list = SimilarItems.Nearest(model, index, 10)
                .Select(n => (nameOf.TryGetValue(items[n.Item], out var name) ? name : items[n.Item], n.Cosine)).ToList();
            result.Add((raw, list));
        }
        return result;
    }
}
