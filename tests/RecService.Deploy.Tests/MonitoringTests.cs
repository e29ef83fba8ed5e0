using System.Text.Json;

namespace RecService.Deploy.Tests;

public class MonitoringTests
{
    [Fact]
    public void The_metric_name_parser_finds_metrics_and_nothing_else()
    {
        Assert.Equal(["recservice_rpc_duration_seconds_bucket"], Urls.MetricNames(
            "histogram_quantile(0.99, sum by (le, rpc_method) (rate(recservice_rpc_duration_seconds_bucket{instance=~\"$instance\", grpc_status!~\"OK|x\"}[$__rate_interval])))"));
        Assert.Equal(["a_total", "b_count"], Urls.MetricNames("sum(rate(a_total[5m])) / on (job) group_left sum(b_count) > 6 * 3600").Order());
        Assert.Equal(["recservice_training_last_success_timestamp_seconds"], Urls.MetricNames("time() - max(recservice_training_last_success_timestamp_seconds)"));
    }

    [Fact]
    public void The_dashboard_and_the_alerts_query_only_metrics_that_the_service_exports()
    {
        var known = Monitoring.ReplicaSeries.Concat(Monitoring.WorkerSeries).Concat(Monitoring.ScrapeSeries).ToHashSet();
        var used = Monitoring.MetricsUsed().ToList();
        Assert.True(used.Count > 30, $"only {used.Count} metric references found");
        Assert.All(used, u => Assert.True(known.Contains(u.Name), $"{u.Where} reads '{u.Name}', which neither the replica nor the worker exports"));
    }

    [Fact]
    public void The_dashboard_shows_rate_latency_percentiles_errors_model_version_and_age_swaps_and_training()
    {
        var q = Monitoring.DashboardQueries().ToList();
        bool Any(Func<(string Panel, string Expr, string Legend), bool> f) => q.Any(f);

        Assert.True(Any(x => x.Expr.Contains("rate(recservice_rpc_duration_seconds_count", StringComparison.Ordinal) && x.Expr.Contains("by (rpc_method)", StringComparison.Ordinal)), "request rate by method");
        foreach (var p in new[] { "0.50", "0.95", "0.99" })
        {
            Assert.True(Any(x => x.Expr.StartsWith($"histogram_quantile({p}, sum by (le) (rate(recservice_rpc_duration_seconds_bucket", StringComparison.Ordinal)), $"latency p{p}");
        }
        Assert.True(Any(x => x.Expr.Contains("by (grpc_status)", StringComparison.Ordinal) && x.Legend == "{{grpc_status}}"), "errors by status");
        Assert.True(Any(x => x.Expr.Contains("recservice_model_loaded", StringComparison.Ordinal) && x.Legend.Contains("{{model_version}}", StringComparison.Ordinal)), "model version");
        Assert.True(Any(x => x.Expr.Contains("recservice_model_age_seconds", StringComparison.Ordinal)), "model age");
        Assert.True(Any(x => x.Expr.Contains("recservice_model_swaps_total", StringComparison.Ordinal)), "swaps");
        Assert.True(Any(x => x.Expr.Contains("recservice_model_refused_total", StringComparison.Ordinal)), "refusals");
        Assert.True(Any(x => x.Expr.Contains("recservice_training_duration_seconds", StringComparison.Ordinal) && x.Legend == "{{stage}}"), "training duration by stage");
        Assert.True(Any(x => x.Expr.Contains("recservice_training_metric", StringComparison.Ordinal) && x.Legend == "{{name}}"), "training metrics");
        Assert.True(Any(x => x.Expr.Contains("recservice_training_runs_total", StringComparison.Ordinal) && x.Legend == "{{outcome}}"), "training runs by outcome");
    }

    [Fact]
    public void Dashboard_panels_use_the_datasource_variable_and_defined_variables_and_fit_the_grid()
    {
        var d = Monitoring.Dashboard;
        Assert.Equal("recservice", d.GetProperty("uid").GetString());
        var variables = d.GetProperty("templating").GetProperty("list").EnumerateArray().ToDictionary(v => v.GetProperty("name").GetString()!);
        Assert.Equal("prometheus", variables["datasource"].GetProperty("query").GetString());
        Assert.Equal(Monitoring.DatasourceUid, variables["datasource"].GetProperty("current").GetProperty("value").GetString());

        var ids = new HashSet<int>();
        foreach (var p in Monitoring.Panels(d))
        {
            var title = p.GetProperty("title").GetString();
            Assert.True(ids.Add(p.GetProperty("id").GetInt32()), $"duplicate panel id in '{title}'");
            var grid = p.GetProperty("gridPos");
            Assert.True(grid.GetProperty("x").GetInt32() + grid.GetProperty("w").GetInt32() <= 24, $"'{title}' is wider than the grid");
            if (p.GetProperty("type").GetString() == "row") continue;
            Assert.Equal("${datasource}", p.GetProperty("datasource").GetProperty("uid").GetString());
            foreach (var t in p.GetProperty("targets").EnumerateArray())
            {
                Assert.Equal("${datasource}", t.GetProperty("datasource").GetProperty("uid").GetString());
                foreach (System.Text.RegularExpressions.Match m in System.Text.RegularExpressions.Regex.Matches(t.GetProperty("expr").GetString()!, @"\$(\w+)"))
                {
                    var name = m.Groups[1].Value;
                    Assert.True(name.StartsWith("__", StringComparison.Ordinal) || variables.ContainsKey(name), $"'{title}' uses undefined ${name}");
                }
            }
        }
        Assert.True(ids.Count >= 15);
    }

    [Fact]
    public void Every_alert_has_a_severity_and_a_summary_and_the_rule_tests_load_the_rules()
    {
        var groups = Yaml.Load(Repo.Read("deploy", "prometheus", "alerts.yml")).Seq("groups").Cast<Dictionary<object, object?>>();
        var rules = groups.SelectMany(g => g.Seq("rules").Cast<Dictionary<object, object?>>()).ToList();
        Assert.True(rules.Count >= 8);
        foreach (var r in rules)
        {
            Assert.Contains(r.Map("labels").Str("severity"), new[] { "page", "ticket" });
            Assert.False(string.IsNullOrWhiteSpace(r.Map("annotations").Str("summary")), r.Str("alert"));
        }
        var tests = Yaml.Load(Repo.Read("deploy", "prometheus", "alerts_test.yml"));
        Assert.Equal(["alerts.yml"], tests.Seq("rule_files"));
        Assert.True(tests.Seq("tests").Count >= 3);
    }
}
