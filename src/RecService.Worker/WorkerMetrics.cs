using System.Diagnostics.Metrics;

namespace RecService.Worker;

/// <summary>The worker's instruments: runs by outcome, refusals by reason, stage durations, the last metrics.</summary>
public sealed class WorkerMetrics : IDisposable
{
    public const string MeterName = "RecService.Worker";
    private readonly Meter _meter = new(MeterName);
    private readonly Counter<long> _runs;
    private readonly Counter<long> _refusals;
    private readonly Histogram<double> _duration;
    private readonly Dictionary<string, double> _lastMetrics = [];
    private readonly Lock _lock = new();
    private double _lastSuccess;

    public WorkerMetrics()
    {
        _runs = _meter.CreateCounter<long>("recservice.training.runs", description: "Training runs by outcome (published, refused, failed)");
        _refusals = _meter.CreateCounter<long>("recservice.training.refusals", description: "Models the gate refused, by reason");
        _duration = _meter.CreateHistogram("recservice.training.duration", unit: "s", description: "Duration of each training stage",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600] });
        _meter.CreateObservableGauge<double>("recservice.training.metric", () =>
        {
            lock (_lock) return _lastMetrics.Select(p => new Measurement<double>(p.Value, new KeyValuePair<string, object?>("name", p.Key))).ToList();
        }, description: "Held-out metrics of the last trained model");
        _meter.CreateObservableGauge<double>("recservice.training.last_success_timestamp", () => Volatile.Read(ref _lastSuccess),
            unit: "s", description: "Unix time of the last published model");
    }

    public void Run(string outcome) => _runs.Add(1, new KeyValuePair<string, object?>("outcome", outcome));
    public void Refused(string reason) => _refusals.Add(1, new KeyValuePair<string, object?>("reason", reason));
    public void Stage(string stage, double seconds) => _duration.Record(seconds, new KeyValuePair<string, object?>("stage", stage));
    public void Published(DateTimeOffset when) => Volatile.Write(ref _lastSuccess, when.ToUnixTimeMilliseconds() / 1000.0);

    public void Metrics(IReadOnlyDictionary<string, double> metrics)
    {
        lock (_lock)
        {
            foreach (var (name, value) in metrics) _lastMetrics[name] = value;
        }
    }

    public void Dispose() => _meter.Dispose();
}
