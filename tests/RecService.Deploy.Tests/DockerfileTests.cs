using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace RecService.Deploy.Tests;

/// <summary>The Dockerfile against the projects it builds (no image is built here: there is no Docker engine).</summary>
public partial class DockerfileTests
{
    private static readonly string[] Lines = Repo.Read("Dockerfile").Split('\n').Select(l => l.Trim()).ToArray();

    private static IEnumerable<string> Instructions(string name) =>
        Lines.Where(l => l.StartsWith(name + " ", StringComparison.Ordinal)).Select(l => l[(name.Length + 1)..]);

    [Fact]
    public void The_restore_layer_copies_every_project_rec_depends_on()
    {
        var needed = new SortedSet<string>(StringComparer.Ordinal);
        void Walk(string project)
        {
            var relative = Path.GetRelativePath(Repo.Root, project).Replace('\\', '/');
            if (!needed.Add(relative)) return;
            foreach (var r in XDocument.Load(project).Descendants("ProjectReference"))
            {
                Walk(Path.GetFullPath(Path.Combine(Path.GetDirectoryName(project)!, r.Attribute("Include")!.Value.Replace('\\', '/'))));
            }
        }
        Walk(Repo.PathOf("src", "RecService.Cli", "RecService.Cli.csproj"));
        Assert.True(needed.Count >= 5);

        var copies = Instructions("COPY").ToList();
        var restore = Array.FindIndex(Lines, l => l.StartsWith("RUN dotnet restore", StringComparison.Ordinal));
        Assert.True(restore > 0, "a dotnet restore step");
        var beforeRestore = Lines[..restore].Where(l => l.StartsWith("COPY ", StringComparison.Ordinal)).ToList();
        foreach (var project in needed)
        {
            Assert.Contains(beforeRestore, c => c.Split(' ').Contains(project));
        }
        foreach (var props in new[] { "Directory.Build.props", "Directory.Packages.props" })
        {
            Assert.Contains(beforeRestore, c => c.Split(' ').Contains(props));
        }
        // The gRPC API that RecService.Serving compiles, and the sources.
        Assert.Contains(copies, c => c.StartsWith("protos/", StringComparison.Ordinal));
        Assert.Contains(copies, c => c.StartsWith("src/ ", StringComparison.Ordinal));
    }

    [Fact]
    public void It_builds_on_the_SDK_runs_on_ASPNET_as_a_non_root_user_and_starts_rec()
    {
        var from = Instructions("FROM").ToList();
        Assert.Equal(2, from.Count);
        Assert.StartsWith("mcr.microsoft.com/dotnet/sdk:10.0 AS build", from[0]);
        Assert.StartsWith("mcr.microsoft.com/dotnet/aspnet:10.0", from[1]);

        var finalStage = Lines[Array.FindLastIndex(Lines, l => l.StartsWith("FROM ", StringComparison.Ordinal))..];
        var user = Assert.Single(finalStage, l => l.StartsWith("USER ", StringComparison.Ordinal));
        Assert.Equal("USER $APP_UID", user); // the .NET images' non-root 'app' user (1654, as in deploy/k8s)

        var cli = XDocument.Load(Repo.PathOf("src", "RecService.Cli", "RecService.Cli.csproj"));
        var assembly = cli.Descendants("AssemblyName").Single().Value;
        Assert.Equal($"[\"dotnet\", \"/app/{assembly}.dll\"]", Assert.Single(Instructions("ENTRYPOINT")));
        Assert.Contains(Lines, l => l.Contains($"dotnet publish src/RecService.Cli/RecService.Cli.csproj -c Release -o /app", StringComparison.Ordinal));
        Assert.Equal("[\"serve\"]", Assert.Single(Instructions("CMD")));
    }

    [Fact]
    public void The_images_defaults_listen_on_all_interfaces_on_the_exposed_ports()
    {
        var env = EnvPair().Matches(Repo.Read("Dockerfile")).ToDictionary(m => m.Groups[1].Value, m => m.Groups[2].Value);
        var exposed = Assert.Single(Instructions("EXPOSE")).Split(' ').Select(int.Parse).ToHashSet();
        foreach (var key in new[] { "Serving__HttpUrl", "Serving__GrpcUrl", "Worker__HttpUrl" })
        {
            var url = new Uri(env[key]);
            Assert.Equal("0.0.0.0", url.Host);
            Assert.Contains(url.Port, exposed);
            Assert.Equal(env[key], Manifests.Config.Data[key]); // Kubernetes sets the same
        }
        Assert.Equal(Manifests.Config.Data["Serving__ModelsDirectory"], env["Serving__ModelsDirectory"]);
        Assert.Equal(Manifests.Config.Data["Worker__ModelsDirectory"], env["Worker__ModelsDirectory"]);
        Assert.Contains(Lines, l => l.Contains("chown", StringComparison.Ordinal) && l.Contains(env["Serving__ModelsDirectory"], StringComparison.Ordinal));
    }

    [Fact]
    public void The_dockerignore_keeps_the_build_inputs()
    {
        var patterns = Repo.Read(".dockerignore").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        foreach (var input in new[] { "src", "src/", "protos", "protos/", "Directory.Build.props", "Directory.Packages.props", "*", "**", "*.props", "*.csproj", "**/*.cs" })
        {
            Assert.DoesNotContain(input, patterns);
        }
        Assert.Contains("**/bin/", patterns);
        Assert.Contains("**/obj/", patterns);
    }

    [GeneratedRegex(@"^\s*(?:ENV\s+)?((?:Serving|Worker)__\w+)=(\S+?)\s*\\?\s*$", RegexOptions.Multiline)]
    private static partial Regex EnvPair();
}
