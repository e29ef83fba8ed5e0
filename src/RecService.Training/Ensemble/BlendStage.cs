using RecService.Core.Bundle;
using RecService.Models;
using RecService.Models.Als;
using RecService.Training.Evaluation;
using RecService.Training.Pipeline;

namespace RecService.Training.Ensemble;

/// <summary>
/// The run's last training step: the parts trained on the hold-out split are written as a bundle into a scratch
/// directory and opened as a replica would, and a blend is fitted per space (artists, then tracks) on evidence none
/// of them saw: the split's held-out pairs and the held-out sequences.
/// </summary>
public static class BlendStage
{
    public static IReadOnlyList<BlendResult> Fit(PartTrainingInput input, IReadOnlyList<PartContent> splitParts, CancellationToken ct)
    {
        var job = input.Options;
        var data = input.Data;
        var catalog = data.Catalog ?? throw new InvalidOperationException("The blend needs the catalog.");
        var scratch = Path.Combine(Path.GetTempPath(), $"recservice-blend-{Environment.ProcessId}-{Guid.NewGuid():N}");
        try
        {
            var store = new BundleStore(scratch);
            var content = TrainingJob.Content(data, splitParts);
            input.Report("blend", $"Writing the {splitParts.Count} held-out-split parts as a scratch bundle");
            // The scratch forests only propose candidates the blend rescores: a few trees and one code copy each.
            var manifest = store.Publish(new BundleManifest(), content, job.Forests with { CodedTrees = 1, TrackTrees = Math.Min(3, job.Forests.TrackTrees), ArtistTrees = Math.Min(3, job.Forests.ArtistTrees) });
            using var bundle = ModelBundle.Open(store.PathOf(manifest.ModelVersion), verifyChecksums: false, KnownFamilies.All);

            var heldOutSequences = input.Signals.HasSequences ? input.SequenceHoldout().Test : null;
            var trainer = new BlendTrainer(job.Ensemble.BlendSeeds, job.Ensemble.BlendL2, job.Seed);
            var results = new List<BlendResult>();
            foreach (var space in new[] { IdSpaces.Artists, IdSpaces.Tracks })
            {
                var pairs = space == IdSpaces.Tracks ? data.UserTrack : data.UserArtist!;
                var heldOut = input.Holdout(pairs).Test;
                var sequences = heldOutSequences is null ? null : space == IdSpaces.Tracks ? heldOutSequences : TrainingSignals.ToArtists(heldOutSequences, catalog);
                var evidence = new HeldOutEvidence(space == IdSpaces.Tracks ? catalog.TrackCount : catalog.ArtistCount, heldOut, sequences);
                var result = trainer.Fit(bundle, space, evidence, ct);
                var k = ModelMetrics.RelatedK(space);
                input.Report("blend", $"{space}: related precision@{k} on {result.EvaluationSeeds} held-out seeds: ensemble {result.Ensemble:F4}, " +
                    string.Join(", ", result.Parts.Select(p => $"{p.Key} {p.Value:F4}")) + $" ({result.Examples} examples, {evidence.Baskets} evidence baskets)");
                var weights = result.Content.Matrices[PartRoles.ItemFactors].Values;
                input.Report("blend", $"{space} weights: " + string.Join(", ", result.Content.ItemIds!.Select((f, i) => $"{f} {weights[i]:F2}")));
                results.Add(result);
            }
            return results;
        }
        finally
        {
            try { Directory.Delete(scratch, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
