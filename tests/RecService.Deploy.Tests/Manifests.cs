using k8s;
using k8s.Models;

namespace RecService.Deploy.Tests;

/// <summary>
/// deploy/k8s loaded into the Kubernetes client's typed models with its strict loader: a field the API does not
/// have (a typo such as readinesProbe), a value of the wrong type or a duplicate key is an error.
/// </summary>
internal static class Manifests
{
    public const string Namespace = "recservice";

    public static IEnumerable<string> Files() =>
        Directory.EnumerateFiles(Repo.PathOf("deploy", "k8s"), "*.yaml", SearchOption.AllDirectories)
            .Where(f => Path.GetFileName(f) != "kustomization.yaml")
            .Order(StringComparer.Ordinal);

    public static IReadOnlyList<object> LoadStrict(string yaml) => KubernetesYaml.LoadAllFromString(yaml, strict: true);

    private static readonly Lazy<IReadOnlyList<object>> AllObjects = new(() => Files().SelectMany(f => LoadStrict(File.ReadAllText(f))).ToList());

    public static IReadOnlyList<object> All => AllObjects.Value;

    public static IEnumerable<T> OfType<T>() => All.OfType<T>();

    public static T Named<T>(string name) where T : IMetadata<V1ObjectMeta> =>
        OfType<T>().SingleOrDefault(o => o.Metadata.Name == name) ?? throw new InvalidOperationException($"no {typeof(T).Name} named {name}");

    public static V1Deployment Replica => Named<V1Deployment>("recservice-replica");
    public static V1Deployment Worker => Named<V1Deployment>("recservice-worker");
    public static V1ConfigMap Config => Named<V1ConfigMap>("recservice-config");

    public static V1Container Container(V1Deployment d) => Assert.Single(d.Spec.Template.Spec.Containers);

    /// <summary>Every pod template in the manifests (Deployments and Jobs), with its owner's name.</summary>
    public static IEnumerable<(string Owner, V1PodTemplateSpec Template)> PodTemplates() =>
        OfType<V1Deployment>().Select(d => (d.Metadata.Name, d.Spec.Template))
            .Concat(OfType<V1Job>().Select(j => (j.Metadata.Name, j.Spec.Template)));

    public static bool Selects(IDictionary<string, string>? selector, IDictionary<string, string>? labels) =>
        selector is { Count: > 0 } && labels is not null && selector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value);
}
