using System.CommandLine;
using RecService.Core.Bundle;
using RecService.Ingest.Catalog;
using RecService.Models;
using RecService.Models.Ensemble;
using RecService.Models.Als;
using RecService.Models.Similarity;
using RecService.Serving.Recommendations;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec eval tags</c>: how often an artist's related artists (from a published bundle, in process) share one of the
/// artist's top tags: a measure of relatedness independent of the plays the models learn from, for any dataset with
/// <c>catalog/artist_tags.tsv</c>. Train with <c>--without tags-artists</c> to keep the tags out of the answer.
/// </summary>
public static class EvalTagsCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory (its CURRENT bundle is measured).", Required = true };
        var catalog = new Option<string>("--catalog") { Description = "Catalog directory with artist_tags.tsv.", Required = true };
        var model = new Option<string?>("--model") { Description = "An artist part (artists, w2v-artists, tags-artists) instead of the ensemble." };
        var k = new Option<int>("--k") { Description = "Related artists per seed.", DefaultValueFactory = _ => 10 };
        var top = new Option<int>("--top-tags") { Description = "A seed's top tags (by weight) a related artist must share one of.", DefaultValueFactory = _ => 3 };
        var minListeners = new Option<int>("--min-listeners") { Description = "Only seeds with at least this many listeners.", DefaultValueFactory = _ => 20 };
        var show = new Option<string[]>("--show") { Description = "Artist names (or ids) whose related artists to print.", AllowMultipleArgumentsPerToken = true };
        var command = new Command("tags", "Share of related artists that carry one of the seed's top tags, from a published bundle.")
        {
            models, catalog, model, k, top, minListeners, show,
        };
        command.SetAction(parse =>
        {
            using var bundle = CurrentBundle.Open(parse.GetValue(models)!);
            var catalogDir = parse.GetValue(catalog)!;
            var trackCatalog = TrackCatalog.Load(catalogDir);
            var tags = ArtistTags.Load(Path.Combine(catalogDir, ArtistTags.FileName), trackCatalog);
            // Each bundle artist's tags (ids), and its top ones by weight.
            var tagsOf = new HashSet<int>[bundle.Artists.Count];
            var topOf = new int[bundle.Artists.Count][];
            var topCount = parse.GetValue(top);
            for (var a = 0; a < trackCatalog.ArtistCount; a++)
            {
                var b = bundle.Artists.IndexOf(trackCatalog.Artists.Ids[a]);
                if (b < 0) continue;
                var row = tags.Applied.RowIndices(a).ToArray();
                var weights = tags.Applied.RowValues(a).ToArray();
                tagsOf[b] = [.. row];
                topOf[b] = row.Zip(weights).OrderByDescending(p => p.Second).ThenBy(p => p.First).Take(topCount).Select(p => p.First).ToArray();
            }
            var listeners = new int[bundle.Artists.Count];
            for (var u = 0; u < bundle.Played.Rows; u++)
            {
                var seen = new HashSet<int>();
                foreach (var t in bundle.Played.RowIndices(u)) seen.Add(bundle.Catalog.ArtistOf(t));
                foreach (var a in seen) listeners[a]++;
            }

            var part = parse.GetValue(model);
            // Resolved as a replica resolves a request's model (the ALS part answers through its own cosine view here).
            if (!ItemNeighbours.TryResolve(bundle, IdSpaces.Artists, part, out var by, out var problem))
            {
                Console.Error.WriteLine(problem);
                return 2;
            }
            var ranker = by.Ranker;
            var view = by.Part ?? (ranker is null ? CosineVectors.Of(bundle.Part(AlsParts.ArtistsPart)) : null);
            var count = parse.GetValue(k);
            var ids = new int[count];
            var scores = new float[count];
            int Related(int a) => ranker?.Rank(a, ids, scores) ?? view!.Nearest(a, ids, scores, default);
            double shared = 0, pairs = 0, sharedTop = 0;
            var seeds = 0;
            for (var a = 0; a < bundle.Artists.Count; a++)
            {
                if (listeners[a] < parse.GetValue(minListeners) || topOf[a] is not { Length: > 0 } seedTop) continue;
                seeds++;
                var n = Related(a);
                for (var i = 0; i < n; i++)
                {
                    pairs++;
                    if (tagsOf[ids[i]] is { } other && seedTop.Any(other.Contains)) shared++;
                    if (topOf[ids[i]] is { } otherTop && seedTop.Any(otherTop.Contains)) sharedTop++;
                }
            }
            Console.WriteLine($"{ranker?.Blend?.Name ?? view!.Part.Name} in {bundle.Version}: over {seeds} artists with >= {parse.GetValue(minListeners)} listeners and tags, top {count} related:");
            Console.WriteLine($"  carries one of the seed's top {topCount} tags: {shared / Math.Max(1, pairs):F3}; shares a top-{topCount} tag with it: {sharedTop / Math.Max(1, pairs):F3} ({pairs} pairs)");
            foreach (var name in parse.GetValue(show) ?? [])
            {
                var a = bundle.Artists.IndexOf(name);
                if (a < 0)
                    for (var i = 0; i < bundle.Artists.Count && a < 0; i++)
                        if (string.Equals(bundle.Catalog.ArtistName(i), name, StringComparison.OrdinalIgnoreCase)) a = i;
                if (a < 0)
                {
                    Console.WriteLine($"  {name}: not in the model");
                    continue;
                }
                var n = Related(a);
                Console.WriteLine($"  {bundle.Catalog.ArtistName(a)} -> {string.Join(", ", Enumerable.Range(0, n).Select(i => bundle.Catalog.ArtistName(ids[i])))}");
            }
            return 0;
        });
        return command;
    }
}
