using System.Net;
using RecService.Core.Bundle;
using RecService.Serving.Tests;

namespace RecService.Deploy.Tests;

/// <summary>
/// Ids and paths holding newlines, carriage returns and ESC, logged by the real processes: each shows escaped in
/// its own line, no forged line appears, and no raw control character reaches the output.
/// </summary>
public sealed class LogInjectionTests
{
    private const string Forged = "[00:00:00 ERR] Forged: admin logged in";
    private static readonly TimeSpan Quick = TimeSpan.FromSeconds(30);

    private static void AssertClean(RecProcess rec, string escaped)
    {
        var lines = rec.Stdout.Split('\n');
        Assert.DoesNotContain(lines, l => l.StartsWith(Forged, StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains(escaped, StringComparison.Ordinal));
        Assert.DoesNotContain('\u001b', rec.Stdout);
        Assert.DoesNotContain('\r', rec.Stdout);
    }

    [Fact]
    public async Task A_user_id_with_a_newline_cr_and_esc_is_logged_escaped_by_the_replica()
    {
        using var models = new TempDirectory();
        var manifest = new TestWorld(seed: 5, users: 50, tracks: 300, clusters: 5).Publish(new BundleStore(models.Path));
        var (httpPort, grpcPort) = (RecProcess.FreePort(), RecProcess.FreePort());
        using var rec = RecProcess.Start("serve", "--models", models.Path, "--http", $"http://127.0.0.1:{httpPort}", "--grpc", $"http://127.0.0.1:{grpcPort}");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}") };
        await rec.WaitForStatusAsync(http, "/readyz", HttpStatusCode.OK, Quick);

        // %0A = LF, %0D = CR, %1B = ESC: decoded into the route's user id and the request path.
        var id = "evil%0A" + Uri.EscapeDataString(Forged) + "%1B%5B31m%0Dend";
        using var response = await http.GetAsync($"/v1/users/{id}/recommendations");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode); // an unknown user: popular tracks
        var logged = await rec.WaitForLineAsync(l => l.Contains("/v1/users/evil"), TimeSpan.FromSeconds(10));
        Assert.True(logged is not null, $"the request was not logged:\n{rec.Stdout}");
        AssertClean(rec, @"/v1/users/evil\n" + Forged + @"\u001b[31m\rend/recommendations");
    }

    [Fact]
    public async Task A_directory_name_with_a_newline_is_logged_escaped_by_the_worker()
    {
        using var data = new TempDirectory();
        var snapshots = Path.Combine(data.Path, "snapshots\n" + Forged);
        var port = RecProcess.FreePort();
        using var rec = RecProcess.Start("worker", "--snapshots", snapshots, "--catalog", data.Path,
            "--models", Path.Combine(data.Path, "models"), "--http", $"http://127.0.0.1:{port}");
        var error = await rec.WaitForLineAsync(l => l.Contains(" ERR] ") && l.Contains(data.Path), Quick);
        Assert.True(error is not null, $"no error line naming the snapshots directory:\n{rec.Stdout}");
        AssertClean(rec, @"snapshots\n" + Forged);
    }
}
