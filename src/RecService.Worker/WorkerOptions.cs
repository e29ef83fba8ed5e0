using RecService.Redis;

namespace RecService.Worker;

/// <summary>Training worker settings, bound from the "Worker" configuration section (Worker__X env vars).</summary>
public sealed class WorkerOptions
{
    public const string Section = "Worker";

    public string SnapshotsDirectory { get; set; } = "data/snapshots";
    public string CatalogDirectory { get; set; } = "data/catalog";
    public string ModelsDirectory { get; set; } = "models";
    /// <summary>Retrain at least this often even without new snapshots.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromHours(1);
    /// <summary>How often the snapshots directory is looked at for a new or changed snapshot.</summary>
    public TimeSpan SnapshotPollInterval { get; set; } = TimeSpan.FromSeconds(10);
    /// <summary>Train on the last N days of snapshots (0 = all).</summary>
    public int WindowDays { get; set; }
    /// <summary>Refuse a model whose held-out tracks precision@10 is below the current model's by more than this fraction.</summary>
    public double GateTolerance { get; set; } = 0.1;
    /// <summary>Published versions kept on disk.</summary>
    public int Keep { get; set; } = 5;
    /// <summary>StackExchange.Redis configuration for the new-model notice; empty means none (replicas poll).</summary>
    public string? Redis { get; set; }
    /// <summary>Pub/sub channel replicas listen on (their Serving:Redis:ModelChannel).</summary>
    public string ModelChannel { get; set; } = RedisKeys.DefaultModelChannel;
    /// <summary>/healthz and /metrics.</summary>
    public string HttpUrl { get; set; } = "http://127.0.0.1:8082";
    public int Factors { get; set; } = 64;
    public int Iterations { get; set; } = 15;
    public float Regularization { get; set; } = new Training.Als.AlsOptions().Regularization;
    public float Alpha { get; set; } = new Training.Als.AlsOptions().Alpha;
    public int Trees { get; set; } = new Core.Bundle.BundleForestOptions().TrackTrees;
    /// <summary>Forest code copies: -1 decides by size (see ForestOptions.CodedTrees), 1 keeps bundles smallest.</summary>
    public int CodedTrees { get; set; } = new Core.Bundle.BundleForestOptions().CodedTrees;
    /// <summary>Recall@10 each forest's default search size is tuned to reach at publish (0 = the fixed default).</summary>
    public float TargetRecall { get; set; } = new Core.Bundle.BundleForestOptions().TargetRecall;
    public int Threads { get; set; }
    public double HoldoutFraction { get; set; } = 0.2;
}
