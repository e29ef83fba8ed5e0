using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace RecService.Deploy.Tests;

/// <summary>
/// `rec` as the container runs it (<c>dotnet rec.dll ARGS</c>), a real process with its stdout and stderr captured;
/// killed (with its children) on dispose. Every wait is bounded.
/// </summary>
public sealed class RecProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();

    private RecProcess(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_stdout) _stdout.Append(e.Data).Append('\n'); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_stderr) _stderr.Append(e.Data).Append('\n'); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    /// <summary>The CLI built beside these tests (same configuration).</summary>
    public static string Dll { get; } = Path.Combine(Repo.Root, "src", "RecService.Cli", "bin",
        new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar)).Parent!.Name, "net10.0", "rec.dll");

    public static RecProcess Start(params string[] args)
    {
        Assert.True(File.Exists(Dll), $"{Dll} is not built");
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add(Dll);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        return new RecProcess(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    public string Stdout { get { lock (_stdout) return _stdout.ToString(); } }
    public string Stderr { get { lock (_stderr) return _stderr.ToString(); } }

    /// <summary>The exit code, or null when it is still running after <paramref name="timeout"/>.</summary>
    public async Task<int?> ExitCodeAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    /// <summary>Waits (bounded) until stdout holds a line matching <paramref name="line"/>; returns that line or null.</summary>
    public async Task<string?> WaitForLineAsync(Func<string, bool> line, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (Stdout.Split('\n').FirstOrDefault(line) is { } found) return found;
            if (_process.HasExited) return Stdout.Split('\n').FirstOrDefault(line);
            await Task.Delay(50);
        }
        return null;
    }

    /// <summary>Polls <paramref name="url"/> until its status is <paramref name="status"/>; returns the last body, or throws naming the last answer.</summary>
    public async Task<string> WaitForStatusAsync(HttpClient http, string url, HttpStatusCode status, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        var last = "no answer";
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            try
            {
                using var response = await http.GetAsync(url);
                var body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode == status) return body;
                last = $"{(int)response.StatusCode}: {body}";
            }
            catch (HttpRequestException ex)
            {
                last = ex.Message;
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{url} did not answer {(int)status} within {timeout.TotalSeconds} s (last: {last}); exited: {_process.HasExited}\n{Stdout}\n{Stderr}");
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            _process.WaitForExit(5000);
        }
        catch (InvalidOperationException) { }
        _process.Dispose();
    }
}
