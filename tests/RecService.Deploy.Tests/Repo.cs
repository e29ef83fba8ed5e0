using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.Serialization;

namespace RecService.Deploy.Tests;

/// <summary>Files of the repository the tests run from (found by walking up to RecService.sln).</summary>
internal static class Repo
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(params string[] parts) => Path.Combine([Root, .. parts]);

    public static string Read(params string[] parts) => File.ReadAllText(PathOf(parts));

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "RecService.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException("RecService.sln not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Plain YAML (compose, Prometheus, Grafana provisioning) as dictionaries, lists and strings; merge keys resolved.</summary>
internal static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().WithDuplicateKeyChecking().Build();

    public static Dictionary<object, object?> Load(string text) =>
        Deserializer.Deserialize<Dictionary<object, object?>>(new MergingParser(new Parser(new StringReader(text))));

    public static Dictionary<object, object?> Map(this object? node, string key) =>
        node is Dictionary<object, object?> map && map.TryGetValue(key, out var value) && value is Dictionary<object, object?> child
            ? child
            : throw new KeyNotFoundException($"no mapping '{key}'");

    public static List<object?> Seq(this object? node, string key) =>
        node is Dictionary<object, object?> map && map.TryGetValue(key, out var value) && value is List<object?> child
            ? child
            : throw new KeyNotFoundException($"no sequence '{key}'");

    public static string? Str(this object? node, string key) =>
        node is Dictionary<object, object?> map && map.TryGetValue(key, out var value) ? value as string : null;

    public static bool Has(this object? node, string key) => node is Dictionary<object, object?> map && map.ContainsKey(key);
}

/// <summary>The service's URLs as configured (http://0.0.0.0:8080): their ports.</summary>
internal static partial class Urls
{
    public static int Port(string url) => new Uri(url).Port;

    public static string Host(string hostPort) => hostPort.Split(':')[0];

    public static int PortOf(string hostPort) => int.Parse(hostPort.Split(':')[1]);

    /// <summary>The metric names a PromQL expression reads (not functions, keywords, labels, strings or durations).</summary>
    public static IReadOnlySet<string> MetricNames(string promql)
    {
        var s = QuotedString().Replace(promql, "\"\"");
        s = LabelMatchers().Replace(s, " ");
        s = Ranges().Replace(s, " ");
        s = Grouping().Replace(s, " ");
        var names = new HashSet<string>();
        foreach (Match m in Identifier().Matches(s))
        {
            if (Keywords.Contains(m.Value)) continue;
            var next = m.Index + m.Length;
            while (next < s.Length && char.IsWhiteSpace(s[next])) next++;
            if (next < s.Length && s[next] == '(') continue; // a function or an aggregation
            names.Add(m.Value);
        }
        return names;
    }

    private static readonly HashSet<string> Keywords = ["by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"];

    [GeneratedRegex("\"(?:[^\"\\\\]|\\\\.)*\"")]
    private static partial Regex QuotedString();
    [GeneratedRegex(@"\{[^}]*\}")]
    private static partial Regex LabelMatchers();
    [GeneratedRegex(@"\[[^\]]*\]")]
    private static partial Regex Ranges();
    [GeneratedRegex(@"\b(by|without|on|ignoring)\s*\([^)]*\)")]
    private static partial Regex Grouping();
    [GeneratedRegex(@"(?<![\w.$])[A-Za-z_:][A-Za-z0-9_:]*")]
    private static partial Regex Identifier();
}
