namespace RecService.Deploy.Tests;

/// <summary>docker-compose.yml against the image, the Prometheus config and the Grafana provisioning.</summary>
public class ComposeTests
{
    private static readonly Dictionary<object, object?> Compose = Yaml.Load(Repo.Read("docker-compose.yml"));
    private static Dictionary<object, object?> Services => Compose.Map("services");
    private static Dictionary<object, object?> Service(string name) => Services.Map(name);

    private static string Env(string service, string key) =>
        Service(service).Map("environment").Str(key) ?? throw new KeyNotFoundException($"{service}: no {key}");

    private static IReadOnlyList<string[]> Volumes(string service) =>
        Service(service).Has("volumes") ? Service(service).Seq("volumes").Cast<string>().Select(v => v.Split(':')).ToList() : [];

    private static readonly string[] Replicas = ["replica-1", "replica-2"];

    [Fact]
    public void The_stack_has_redis_data_the_worker_two_replicas_prometheus_and_grafana()
    {
        foreach (var s in new[] { "redis", "demo-data", "worker", "prometheus", "grafana" }.Concat(Replicas)) Assert.True(Services.Has(s), s);
        Assert.Equal(["serve"], Service("replica-1").Seq("command"));
        Assert.Equal(["worker"], Service("worker").Seq("command"));
        Assert.Equal("generate", Service("demo-data").Seq("command")[0]);
        foreach (var s in Services.Keys.Cast<string>())
        {
            var image = Service(s).Str("image");
            Assert.NotNull(image);
            if (!image.StartsWith("${RECSERVICE_IMAGE", StringComparison.Ordinal)) Images.AssertPinned(image);
        }
    }

    [Fact]
    public void Replicas_share_the_model_volume_read_only_and_only_the_worker_writes_it()
    {
        var models = Env("worker", "Worker__ModelsDirectory");
        foreach (var r in Replicas)
        {
            Assert.Equal(models, Env(r, "Serving__ModelsDirectory"));
            Assert.Contains(Volumes(r), v => v[0] == "models" && v[1] == models && v.Length == 3 && v[2] == "ro");
            Assert.Equal("redis:6379", Env(r, "Serving__Redis__Endpoint"));
        }
        var writers = Services.Keys.Cast<string>()
            .Where(s => Volumes(s).Any(v => v[0] == "models" && (v.Length < 3 || v[2] != "ro"))).ToList();
        Assert.Equal(["worker"], writers);

        // The worker reads what demo-data writes, where its settings say.
        Assert.Contains(Volumes("demo-data"), v => v[0] == "data" && v[1] == "/data" && v.Length == 2);
        Assert.Contains(Volumes("worker"), v => v[0] == "data" && v[1] == "/data" && v[2] == "ro");
        Assert.StartsWith("/data/", Env("worker", "Worker__SnapshotsDirectory"));
        Assert.Equal("service_completed_successfully", Service("worker").Map("depends_on").Map("demo-data").Str("condition"));
        Assert.Equal("redis:6379", Env("worker", "Worker__Redis"));
    }

    [Fact]
    public void Published_ports_are_the_ports_the_processes_listen_on()
    {
        foreach (var r in Replicas)
        {
            var targets = Service(r).Seq("ports").Cast<string>().Select(p => int.Parse(p.Split(':')[^1])).ToHashSet();
            Assert.Equal([Urls.Port(Env(r, "Serving__HttpUrl")), Urls.Port(Env(r, "Serving__GrpcUrl"))], targets.Order());
            Assert.Equal("0.0.0.0", new Uri(Env(r, "Serving__HttpUrl")).Host);
        }
        var published = Services.Keys.Cast<string>().Where(s => Service(s).Has("ports"))
            .SelectMany(s => Service(s).Seq("ports").Cast<string>().Select(p => p.Split(':')[0])).ToList();
        Assert.Equal(published.Count, published.Distinct().Count()); // no host port published twice
    }

    [Fact]
    public void Bind_mounted_files_exist()
    {
        var binds = Services.Keys.Cast<string>().SelectMany(Volumes).Where(v => v[0].StartsWith("./", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(binds);
        Assert.All(binds, v => Assert.True(Path.Exists(Repo.PathOf(v[0][2..])), $"{v[0]} does not exist"));
    }

    [Fact]
    public void Prometheus_scrapes_both_replicas_and_the_worker_on_their_metrics_ports()
    {
        var config = Yaml.Load(Repo.Read("deploy", "prometheus", "prometheus.yml"));
        var targets = config.Seq("scrape_configs").Cast<Dictionary<object, object?>>()
            .Where(j => j.Str("job_name")!.StartsWith("recservice-", StringComparison.Ordinal))
            .SelectMany(j => j.Seq("static_configs").Cast<Dictionary<object, object?>>().SelectMany(s => s.Seq("targets").Cast<string>())
                .Select(t => (Job: j.Str("job_name")!, Host: Urls.Host(t), Port: Urls.PortOf(t), Path: j.Str("metrics_path") ?? "/metrics")))
            .ToList();
        foreach (var r in Replicas)
        {
            Assert.Contains(targets, t => t.Job == "recservice-replica" && t.Host == r && t.Port == Urls.Port(Env(r, "Serving__HttpUrl")) && t.Path == "/metrics");
        }
        Assert.Contains(targets, t => t.Job == "recservice-worker" && t.Host == "worker" && t.Port == Urls.Port(Env("worker", "Worker__HttpUrl")));
        Assert.All(targets, t => Assert.True(Services.Has(t.Host), $"target {t.Host} is not a compose service"));

        // The rule file it loads is mounted beside it.
        var mounts = Volumes("prometheus").Where(v => v[0].StartsWith("./", StringComparison.Ordinal)).ToDictionary(v => v[1], v => v[0]);
        Assert.Equal("./deploy/prometheus/prometheus.yml", mounts["/etc/prometheus/prometheus.yml"]);
        foreach (var rule in config.Seq("rule_files").Cast<string>())
        {
            Assert.Equal("./deploy/prometheus/" + rule, mounts["/etc/prometheus/" + rule]);
        }
    }

    [Fact]
    public void Grafana_provisions_the_prometheus_datasource_and_the_mounted_dashboards()
    {
        var mounts = Volumes("grafana").Where(v => v[0].StartsWith("./", StringComparison.Ordinal)).ToDictionary(v => v[1], v => v[0]);
        Assert.Equal("./deploy/grafana/provisioning", mounts["/etc/grafana/provisioning"]);

        var provider = (Dictionary<object, object?>)Yaml.Load(Repo.Read("deploy", "grafana", "provisioning", "dashboards", "recservice.yml")).Seq("providers").Single()!;
        var path = provider.Map("options").Str("path")!;
        Assert.True(mounts.ContainsKey(path), $"dashboards path {path} is not mounted");
        var hostDir = Repo.PathOf(mounts[path][2..]);
        Assert.NotEmpty(Directory.GetFiles(hostDir, "*.json"));

        var home = Env("grafana", "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH");
        Assert.StartsWith(path + "/", home);
        Assert.True(File.Exists(Path.Combine(hostDir, home[(path.Length + 1)..])));

        var ds = (Dictionary<object, object?>)Yaml.Load(Repo.Read("deploy", "grafana", "provisioning", "datasources", "prometheus.yml")).Seq("datasources").Single()!;
        Assert.Equal("prometheus", ds.Str("type"));
        var url = new Uri(ds.Str("url")!);
        Assert.True(Services.Has(url.Host));
        Assert.Contains(Service(url.Host).Seq("ports").Cast<string>(), p => p.EndsWith(":" + url.Port, StringComparison.Ordinal));
        Assert.Equal(Monitoring.DatasourceUid, ds.Str("uid"));
    }

    [Fact]
    public void Compose_and_Kubernetes_set_the_same_settings()
    {
        var compose = Replicas.Concat(["worker"]).SelectMany(s => Service(s).Map("environment").Keys.Cast<string>()).ToHashSet();
        var k8s = Manifests.Config.Data.Keys.ToHashSet();
        Assert.Equal(k8s.Order(), compose.Order());
    }
}
