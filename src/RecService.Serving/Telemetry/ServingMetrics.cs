using System.Diagnostics;
using System.Diagnostics.Metrics;
using RecService.Serving.Models;

namespace RecService.Serving.Telemetry;

/// <summary>
/// The replica's own instruments (exported to Prometheus through OpenTelemetry): RPC latency by method, status
/// and transport; the served model's version and age; swaps and refused bundles; state refused at its bound.
/// </summary>
public sealed class ServingMetrics : IDisposable
{
    public const string MeterName = "RecService.Serving";
    public static readonly ActivitySource ActivitySource = new(MeterName);

    // Sub-millisecond buckets: the default OpenTelemetry boundaries start at 5 s units and would put every answer in one bucket.
    private static readonly double[] LatencyBuckets =
        [0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly Meter _meter;
    private readonly Histogram<double> _rpcDuration;
    private readonly Counter<long> _swaps;
    private readonly Counter<long> _refused;
    private readonly Counter<long> _degraded;
    private readonly Counter<long> _recommendSource;
    private readonly Counter<long> _stateRefused;
    private int _redisAvailable = -1; // -1: not configured

    public ServingMetrics(ModelHolder holder)
    {
        _meter = new Meter(MeterName);
        _rpcDuration = _meter.CreateHistogram(
            "recservice.rpc.duration", unit: "s", description: "Server-side duration of each RPC (gRPC and REST)",
            tags: null, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });
        _swaps = _meter.CreateCounter<long>("recservice.model.swaps", description: "Bundles swapped in");
        _refused = _meter.CreateCounter<long>("recservice.model.refused", description: "Bundles refused as invalid");
        _degraded = _meter.CreateCounter<long>("recservice.redis.degraded",
            description: "Calls answered without Redis (unreachable or circuit open), by operation");
        _recommendSource = _meter.CreateCounter<long>("recservice.recommend.source",
            description: "Recommend answers by where the list came from (model, realtime, precomputed, popular)");
        _stateRefused = _meter.CreateCounter<long>("recservice.state.refused",
            description: "New fresh-play users or stations refused at a state bound (in-process State:LocalLimit, Redis Radio:MaxStations), by kind");
        _meter.CreateObservableGauge<int>("recservice.redis.available", () =>
        {
            var v = Volatile.Read(ref _redisAvailable);
            return v < 0 ? [] : [new Measurement<int>(v)];
        }, description: "1 while Redis answers, 0 while the replica serves degraded from in-process state; absent without Redis");
        _meter.CreateObservableGauge<double>("recservice.model.age", () =>
        {
            var b = holder.Current;
            return b is null ? [] : [new Measurement<double>((DateTimeOffset.UtcNow - b.Manifest.CreatedUtc).TotalSeconds)];
        }, unit: "s", description: "Age of the served model since training published it");
        _meter.CreateObservableGauge<int>("recservice.model.loaded", () =>
        {
            var b = holder.Current;
            return b is null
                ? [new Measurement<int>(0)]
                : [new Measurement<int>(1, new KeyValuePair<string, object?>("model_version", b.Version))];
        }, description: "1 with the served model version as a label; 0 when no model is loaded");
    }

    public void RecordRpc(string method, string status, string transport, double seconds) =>
        _rpcDuration.Record(seconds,
            new KeyValuePair<string, object?>("rpc_method", method),
            new KeyValuePair<string, object?>("grpc_status", status),
            new KeyValuePair<string, object?>("transport", transport));

    public void Swapped() => _swaps.Add(1);

    /// <summary>One call that had to do without Redis.</summary>
    public void Degraded(string operation) => _degraded.Add(1, new KeyValuePair<string, object?>("operation", operation));

    public void RedisAvailable(bool available) => Volatile.Write(ref _redisAvailable, available ? 1 : 0);

    public void RecommendSource(string source) => _recommendSource.Add(1, new KeyValuePair<string, object?>("source", source));
    public void Refused() => _refused.Add(1);

    /// <summary>One new entry of in-process state (kind: fresh_plays, station) refused at the bound.</summary>
    public void StateRefused(string kind) => _stateRefused.Add(1, new KeyValuePair<string, object?>("kind", kind));

    public void Dispose() => _meter.Dispose();
}
