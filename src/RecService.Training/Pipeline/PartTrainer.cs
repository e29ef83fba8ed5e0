using RecService.Core.Bundle;
using RecService.Core.Sparse;
using RecService.Ingest.Logs;
using RecService.Training.Evaluation;
using RecService.Training.Word2Vec;

namespace RecService.Training.Pipeline;

/// <summary>What a part trainer gets from a run: the play matrices (with the catalog) and the job's options.</summary>
public sealed record PartTrainingInput(PlayMatrices Data, TrainingJobOptions Options, Action<TrainingEvent>? Progress)
{
    /// <summary>What the run read besides the plays (sequences, tags), for the ensemble's parts.</summary>
    public TrainingSignals Signals { get; init; } = TrainingSignals.None;

    private readonly List<(CsrMatrix Pairs, Holdout Split)> _splits = [];
    private (TokenSequences Train, TokenSequences Test)? _sequences;

    /// <summary>
    /// The run's hold-out split of <paramref name="pairs"/> (<see cref="TrainingJobOptions.HoldoutFraction"/>, the job's
    /// seed), made once per matrix: every part over the same matrix trains on the same pairs, and the blend's evidence is
    /// exactly what they held out. Kept until <see cref="ReleaseHoldouts"/>.
    /// </summary>
    public Holdout Holdout(CsrMatrix pairs)
    {
        lock (_splits)
        {
            foreach (var (matrix, split) in _splits)
                if (ReferenceEquals(matrix, pairs)) return split;
            var made = HoldoutSplit.Random(pairs, Options.HoldoutFraction, Options.Seed);
            _splits.Add((pairs, made));
            return made;
        }
    }

    /// <summary>The run's split of the sequences (<see cref="TrainingSignals.Split"/>), made once.</summary>
    public (TokenSequences Train, TokenSequences Test) SequenceHoldout()
    {
        lock (_splits) return _sequences ??= Signals.Split(Options.HoldoutFraction, Options.Seed);
    }

    /// <summary>Drops the splits once evaluation and the blend are done, before the parts are trained on all data.</summary>
    public void ReleaseHoldouts()
    {
        lock (_splits)
        {
            _splits.Clear();
            _sequences = null;
        }
    }

    public void Report(string stage, string message) => Progress?.Invoke(new TrainingEvent(stage, message));
}

/// <summary>A part's held-out evaluation: its metrics (named by RecService.Models.ModelMetrics) and the model trained on the
/// split, published when the job does not retrain on all data.</summary>
public sealed record PartEvaluation(IReadOnlyDictionary<string, double> Metrics, PartContent SplitModel, ModelEvaluation? Ranking = null);

/// <summary>One trained part of a run: what goes into the bundle, and how it did on held-out data (null when not evaluated).</summary>
public sealed record TrainedPart(PartContent Content, PartEvaluation? Evaluation);

/// <summary>
/// The training side of a model family: trains one named part from a run's data. <see cref="TrainingJob"/> runs a list of
/// them (ALS tracks and artists by default); a new model is one implementation plus its registration there.
/// </summary>
public interface IPartTrainer
{
    /// <summary>The part's name in the bundle (lower-case letters, digits, '-').</summary>
    string PartName { get; }

    /// <summary>How the part is fitted, for the manifest's run facts (keys are prefixed with the part's name).</summary>
    IReadOnlyDictionary<string, string> Facts { get; }

    /// <summary>Trains on a hold-out split of the data (<see cref="TrainingJobOptions.HoldoutFraction"/>) and measures it;
    /// called only when the job evaluates.</summary>
    PartEvaluation Evaluate(PartTrainingInput input, CancellationToken ct);

    /// <summary>Trains on all the data.</summary>
    PartContent Train(PartTrainingInput input, CancellationToken ct);

    /// <summary>Publish the model trained on the hold-out split even when the job retrains on all data (the ensemble's
    /// parts: the blend's weights were fitted on exactly those models, and it halves their cost).</summary>
    bool PublishesSplitModel => false;
}
