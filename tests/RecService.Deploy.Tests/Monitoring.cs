using System.Text.Json;

namespace RecService.Deploy.Tests;

/// <summary>
/// The metrics contract: what the replica and the worker export (as documented for issue 6), and the queries the
/// Grafana dashboard and the Prometheus alerts run on them.
/// </summary>
internal static class Monitoring
{
    public const string DatasourceUid = "prometheus";

    /// <summary>Series of .NET's runtime meter (System.Runtime), which the replica and the worker both export.</summary>
    public static readonly string[] RuntimeSeries =
    [
        "dotnet_process_cpu_time_seconds_total", "dotnet_gc_pause_time_seconds_total", "dotnet_gc_heap_total_allocated_bytes_total",
        "dotnet_gc_collections_total", "dotnet_thread_pool_queue_length_total",
    ];

    /// <summary>Series the replica exports (histograms by their _bucket/_sum/_count series).</summary>
    public static readonly HashSet<string> ReplicaSeries =
    [
        .. RuntimeSeries,
        .. Histogram("recservice_rpc_duration_seconds"),
        "recservice_model_loaded", "recservice_model_age_seconds", "recservice_model_swaps_total", "recservice_model_refused_total",
        "recservice_recommend_source_total",
        .. Histogram("http_server_request_duration_seconds"),
    ];

    /// <summary>Replica series that exist only with Redis configured (availability) or once Redis failed (degraded calls).</summary>
    public static readonly HashSet<string> RedisSeries = ["recservice_redis_available", "recservice_redis_degraded_total"];

    /// <summary>Series the worker exports.</summary>
    public static readonly HashSet<string> WorkerSeries =
    [
        .. RuntimeSeries,
        "recservice_training_runs_total", .. Histogram("recservice_training_duration_seconds"), "recservice_training_metric",
        "recservice_training_last_success_timestamp_seconds",
    ];

    /// <summary>Prometheus' own per-target series.</summary>
    public static readonly HashSet<string> ScrapeSeries = ["up"];

    private static string[] Histogram(string name) => [name + "_bucket", name + "_sum", name + "_count"];

    public static JsonElement Dashboard { get; } = JsonDocument.Parse(Repo.Read("deploy", "grafana", "dashboards", "recservice.json")).RootElement;

    public static IEnumerable<JsonElement> Panels(JsonElement parent) =>
        parent.TryGetProperty("panels", out var panels)
            ? panels.EnumerateArray().SelectMany(p => new[] { p }.Concat(Panels(p)))
            : [];

    public static IEnumerable<(string Panel, string Expr, string Legend)> DashboardQueries() =>
        from p in Panels(Dashboard)
        where p.TryGetProperty("targets", out _)
        from t in p.GetProperty("targets").EnumerateArray()
        select (p.GetProperty("title").GetString()!, t.GetProperty("expr").GetString()!, t.TryGetProperty("legendFormat", out var l) ? l.GetString() ?? "" : "");

    public static IEnumerable<(string Alert, string Expr)> AlertRules() =>
        from g in Yaml.Load(Repo.Read("deploy", "prometheus", "alerts.yml")).Seq("groups").Cast<Dictionary<object, object?>>()
        from r in g.Seq("rules").Cast<Dictionary<object, object?>>()
        select (r.Str("alert")!, r.Str("expr")!);

    public static IEnumerable<(string Where, string Name)> MetricsUsed() =>
        DashboardQueries().SelectMany(q => Urls.MetricNames(q.Expr).Select(n => ($"dashboard panel '{q.Panel}'", n)))
            .Concat(AlertRules().SelectMany(a => Urls.MetricNames(a.Expr).Select(n => ($"alert {a.Alert}", n))));
}
