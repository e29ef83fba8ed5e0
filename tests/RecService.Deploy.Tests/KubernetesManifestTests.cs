using k8s;
using k8s.Models;
using YamlDotNet.Core;

namespace RecService.Deploy.Tests;

public class KubernetesManifestTests
{
    public static TheoryData<string> ManifestFiles() => new(Manifests.Files().Select(f => Path.GetRelativePath(Repo.Root, f)));

    [Theory]
    [MemberData(nameof(ManifestFiles))]
    public void Every_manifest_loads_strictly_into_the_Kubernetes_models(string file)
    {
        var objects = Manifests.LoadStrict(Repo.Read(file));
        Assert.NotEmpty(objects);
        foreach (var o in objects)
        {
            var meta = Assert.IsAssignableFrom<IMetadata<V1ObjectMeta>>(o).Metadata;
            Assert.False(string.IsNullOrEmpty(meta.Name), $"{file}: an object without a name");
            if (o is not V1Namespace) Assert.Equal(Manifests.Namespace, meta.NamespaceProperty);
            Assert.Equal("recservice", meta.Labels?["app.kubernetes.io/part-of"]);
        }
    }

    [Fact]
    public void The_strict_loader_rejects_a_misspelt_field_that_the_lenient_one_would_drop()
    {
        var yaml = Repo.Read("deploy", "k8s", "replica.yaml");
        Assert.Contains("readinessProbe:", yaml);
        var typo = yaml.Replace("readinessProbe:", "readinesProbe:");

        var lenient = KubernetesYaml.LoadAllFromString(typo).OfType<V1Deployment>().Single();
        Assert.Null(Manifests.Container(lenient).ReadinessProbe); // silently lost
        var ex = Assert.ThrowsAny<YamlException>(() => Manifests.LoadStrict(typo));
        Assert.Contains("readinesProbe", ex.Message);

        Assert.ThrowsAny<YamlException>(() => Manifests.LoadStrict(yaml.Replace("averageUtilization: 70", "averageUtilization: seventy")
            .Replace("maxSurge: 1", "maxSurge: {}")));
    }

    [Fact]
    public void Kustomization_lists_every_manifest_except_the_demo_job()
    {
        var k = Yaml.Load(Repo.Read("deploy", "k8s", "kustomization.yaml"));
        Assert.Equal("Kustomization", k.Str("kind"));
        Assert.Equal(Manifests.Namespace, k.Str("namespace"));
        var listed = k.Seq("resources").Cast<string>().Order(StringComparer.Ordinal).ToList();
        var files = Directory.EnumerateFiles(Repo.PathOf("deploy", "k8s"), "*.yaml")
            .Select(f => Path.GetFileName(f)).Where(f => f != "kustomization.yaml").Order(StringComparer.Ordinal).ToList();
        Assert.Equal(files, listed);
    }

    [Fact]
    public void Deployments_select_their_own_pods_and_services_route_to_named_container_ports()
    {
        foreach (var d in Manifests.OfType<V1Deployment>())
        {
            Assert.True(Manifests.Selects(d.Spec.Selector.MatchLabels, d.Spec.Template.Metadata.Labels), $"{d.Metadata.Name}: selector does not match its pods");
        }
        foreach (var s in Manifests.OfType<V1Service>())
        {
            var pods = Manifests.OfType<V1Deployment>().Where(d => Manifests.Selects(s.Spec.Selector, d.Spec.Template.Metadata.Labels)).ToList();
            var target = Assert.Single(pods); // each Service fronts exactly one Deployment
            var ports = target.Spec.Template.Spec.Containers.SelectMany(c => c.Ports ?? []).ToList();
            foreach (var p in s.Spec.Ports)
            {
                var tp = p.TargetPort?.Value ?? p.Port.ToString();
                Assert.True(ports.Any(cp => cp.Name == tp || cp.ContainerPort.ToString() == tp),
                    $"Service {s.Metadata.Name} port {p.Name} targets {tp}, which {target.Metadata.Name} does not expose");
            }
        }
        foreach (var pdb in Manifests.OfType<V1PodDisruptionBudget>())
        {
            Assert.True(Manifests.Selects(pdb.Spec.Selector.MatchLabels, Manifests.Replica.Spec.Template.Metadata.Labels));
        }
    }

    [Fact]
    public void Replica_probes_are_the_grpc_health_services_on_the_grpc_port()
    {
        var c = Manifests.Container(Manifests.Replica);
        var grpcPort = Urls.Port(Manifests.Config.Data["Serving__GrpcUrl"]);
        var httpPort = Urls.Port(Manifests.Config.Data["Serving__HttpUrl"]);
        Assert.Equal(8081, grpcPort);
        Assert.Contains(c.Ports, p => p.Name == "grpc" && p.ContainerPort == grpcPort);
        Assert.Contains(c.Ports, p => p.Name == "http" && p.ContainerPort == httpPort);

        // Readiness: the default service "" (SERVING once a model is loaded); liveness and startup: "liveness".
        Assert.NotNull(c.ReadinessProbe.Grpc);
        Assert.Equal(grpcPort, c.ReadinessProbe.Grpc.Port);
        Assert.True(string.IsNullOrEmpty(c.ReadinessProbe.Grpc.Service));
        Assert.Equal(grpcPort, c.LivenessProbe.Grpc.Port);
        Assert.Equal("liveness", c.LivenessProbe.Grpc.Service);
        Assert.Equal("liveness", c.StartupProbe.Grpc.Service);
        Assert.Null(c.ReadinessProbe.HttpGet);
    }

    [Fact]
    public void Containers_have_resources_and_run_as_the_images_non_root_user()
    {
        foreach (var (owner, template) in Manifests.PodTemplates())
        {
            var pod = template.Spec;
            Assert.True(pod.SecurityContext?.RunAsNonRoot, $"{owner}: runAsNonRoot");
            foreach (var c in pod.Containers)
            {
                Assert.True(c.Resources?.Requests?.ContainsKey("cpu") == true && c.Resources!.Requests.ContainsKey("memory"), $"{owner}/{c.Name}: cpu and memory requests");
                Assert.True(c.Resources!.Limits?.ContainsKey("memory") == true, $"{owner}/{c.Name}: memory limit");
                Assert.False(c.SecurityContext?.AllowPrivilegeEscalation ?? true, $"{owner}/{c.Name}: allowPrivilegeEscalation");
                if (c.SecurityContext?.ReadOnlyRootFilesystem == true && c.Image.StartsWith("recservice", StringComparison.Ordinal))
                {
                    Assert.Contains(c.VolumeMounts, m => m.MountPath == "/tmp"); // .NET needs a writable /tmp
                }
            }
            if (template.Spec.Containers.Any(c => c.Image.StartsWith("recservice", StringComparison.Ordinal)))
            {
                Assert.Equal(1654, pod.SecurityContext!.RunAsUser); // APP_UID of the .NET images (Dockerfile USER)
                Assert.Equal(1654, pod.SecurityContext.FsGroup);
            }
        }
    }

    [Fact]
    public void The_model_volume_is_a_shared_ReadWriteMany_claim_read_only_to_replicas_and_written_only_by_the_worker()
    {
        var claim = Manifests.Named<V1PersistentVolumeClaim>("recservice-models");
        Assert.Contains("ReadWriteMany", claim.Spec.AccessModes);

        var writers = new List<string>();
        foreach (var (owner, template) in Manifests.PodTemplates())
        {
            var volumes = template.Spec.Volumes ?? [];
            foreach (var v in volumes.Where(v => v.PersistentVolumeClaim?.ClaimName == claim.Metadata.Name))
            {
                foreach (var m in template.Spec.Containers.SelectMany(c => c.VolumeMounts ?? []).Where(m => m.Name == v.Name))
                {
                    if (m.ReadOnlyProperty != true || v.PersistentVolumeClaim.ReadOnlyProperty != true) writers.Add(owner);
                }
            }
        }
        Assert.Equal(["recservice-worker"], writers.Distinct());

        var replicaMount = Assert.Single(Manifests.Container(Manifests.Replica).VolumeMounts, m => m.MountPath == Manifests.Config.Data["Serving__ModelsDirectory"]);
        Assert.True(replicaMount.ReadOnlyProperty);
        Assert.Contains(Manifests.Container(Manifests.Worker).VolumeMounts, m => m.MountPath == Manifests.Config.Data["Worker__ModelsDirectory"] && m.ReadOnlyProperty != true);

        // Exactly one worker, never two at once (Recreate), so two runs never publish concurrently.
        Assert.Equal(1, Manifests.Worker.Spec.Replicas);
        Assert.Equal("Recreate", Manifests.Worker.Spec.Strategy.Type);

        // Every claim a pod mounts exists.
        var claims = Manifests.OfType<V1PersistentVolumeClaim>().Select(c => c.Metadata.Name).ToHashSet();
        foreach (var (owner, template) in Manifests.PodTemplates())
        {
            foreach (var v in (template.Spec.Volumes ?? []).Where(v => v.PersistentVolumeClaim is not null))
            {
                Assert.True(claims.Contains(v.PersistentVolumeClaim.ClaimName), $"{owner} mounts missing claim {v.PersistentVolumeClaim.ClaimName}");
            }
        }
    }

    [Fact]
    public void The_autoscaler_owns_the_replica_count()
    {
        var hpa = Manifests.Named<V2HorizontalPodAutoscaler>("recservice-replica");
        var target = hpa.Spec.ScaleTargetRef;
        Assert.Equal(("apps/v1", "Deployment", Manifests.Replica.Metadata.Name), (target.ApiVersion, target.Kind, target.Name));
        Assert.True(hpa.Spec.MinReplicas >= 2, "at least two replicas");
        Assert.True(hpa.Spec.MaxReplicas > hpa.Spec.MinReplicas);
        Assert.Null(Manifests.Replica.Spec.Replicas); // a fixed count would fight the autoscaler on every apply
        var cpu = Assert.Single(hpa.Spec.Metrics, m => m.Resource?.Name == "cpu");
        Assert.Equal("Utilization", cpu.Resource.Target.Type);
        Assert.True(Manifests.Container(Manifests.Replica).Resources.Requests.ContainsKey("cpu")); // utilisation is relative to the request
    }

    [Fact]
    public void The_ConfigMap_configures_both_roles_consistently_with_the_containers()
    {
        var data = Manifests.Config.Data;
        Assert.All(data.Keys, k => Assert.True(k.StartsWith("Serving__", StringComparison.Ordinal) || k.StartsWith("Worker__", StringComparison.Ordinal), k));
        foreach (var d in new[] { Manifests.Replica, Manifests.Worker })
        {
            Assert.Contains(Manifests.Container(d).EnvFrom, e => e.ConfigMapRef?.Name == Manifests.Config.Metadata.Name);
        }
        foreach (var key in new[] { "Serving__HttpUrl", "Serving__GrpcUrl", "Worker__HttpUrl" })
        {
            Assert.Equal("0.0.0.0", new Uri(data[key]).Host); // reachable from outside the pod
        }
        Assert.Contains(Manifests.Container(Manifests.Worker).Ports, p => p.ContainerPort == Urls.Port(data["Worker__HttpUrl"]));
        Assert.Equal("/healthz", Manifests.Container(Manifests.Worker).LivenessProbe.HttpGet.Path);

        var redis = Manifests.Named<V1Service>("recservice-redis");
        foreach (var key in new[] { "Serving__Redis__Endpoint", "Worker__Redis" })
        {
            Assert.Equal(redis.Metadata.Name, Urls.Host(data[key]));
            Assert.Contains(redis.Spec.Ports, p => p.Port == Urls.PortOf(data[key]));
        }
        // The pod annotations Prometheus may use name the metrics ports.
        Assert.Equal(Urls.Port(data["Serving__HttpUrl"]).ToString(), Manifests.Replica.Spec.Template.Metadata.Annotations["prometheus.io/port"]);
        Assert.Equal(Urls.Port(data["Worker__HttpUrl"]).ToString(), Manifests.Worker.Spec.Template.Metadata.Annotations["prometheus.io/port"]);
    }

    [Fact]
    public void Images_are_pinned_to_a_tag()
    {
        var images = Manifests.PodTemplates().SelectMany(t => t.Template.Spec.Containers).Select(c => c.Image).ToList();
        Assert.NotEmpty(images);
        Assert.All(images, Images.AssertPinned);
    }

    [Fact]
    public void Prometheus_in_the_cluster_discovers_the_pods_through_the_headless_services()
    {
        var config = Yaml.Load(Repo.Read("deploy", "prometheus", "prometheus-k8s.yml"));
        var jobs = config.Seq("scrape_configs").Cast<Dictionary<object, object?>>().ToDictionary(j => j.Str("job_name")!);
        foreach (var (job, deployment, urlKey) in new[] { ("recservice-replica", Manifests.Replica, "Serving__HttpUrl"), ("recservice-worker", Manifests.Worker, "Worker__HttpUrl") })
        {
            var sd = (Dictionary<object, object?>)jobs[job].Seq("dns_sd_configs").Single()!;
            var name = (string)sd.Seq("names").Single()!; // <service>.<namespace>.svc.cluster.local
            var parts = name.Split('.');
            var service = Manifests.Named<V1Service>(parts[0]);
            Assert.Equal(Manifests.Namespace, parts[1]);
            Assert.Equal("None", service.Spec.ClusterIP); // headless: one A record per pod
            Assert.True(Manifests.Selects(service.Spec.Selector, deployment.Spec.Template.Metadata.Labels));
            Assert.Equal(Urls.Port(Manifests.Config.Data[urlKey]).ToString(), sd["port"]);
        }
    }
}

internal static class Images
{
    public static void AssertPinned(string image)
    {
        var name = image.Split('@')[0];
        var slash = name.LastIndexOf('/');
        var colon = name.LastIndexOf(':');
        Assert.True(image.Contains('@') || colon > slash, $"{image}: no tag");
        Assert.False(name.EndsWith(":latest", StringComparison.Ordinal), $"{image}: 'latest' is not a pin");
    }
}
