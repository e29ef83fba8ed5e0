using System.CommandLine;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace RecService.Cli.Commands;

/// <summary>
/// <c>rec bench start</c>: how long a replica takes from process start to ready (/readyz 200) over a models
/// directory: starts <c>rec serve</c> as a child process, polls, stops it, and repeats.
/// </summary>
public static class BenchStartCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Models directory", Required = true };
        var runs = new Option<int>("--runs") { Description = "Starts to time", DefaultValueFactory = _ => 5 };
        var verify = new Option<bool>("--verify-checksums") { Description = "Verify every file's checksum before serving (the default for replicas)", DefaultValueFactory = _ => true };
        var command = new Command("start", "Time a replica from process start to ready, as a separate process.") { models, runs, verify };
        command.SetAction(async (parse, ct) =>
        {
            var exe = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot find the rec executable.");
            var dll = Path.Combine(AppContext.BaseDirectory, "rec.dll");
            var viaDotnet = Path.GetFileNameWithoutExtension(exe) == "dotnet";
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(1) };
            var times = new List<double>();
            for (var run = 0; run < parse.GetValue(runs); run++)
            {
                var httpPort = FreePort();
                var start = new ProcessStartInfo(exe)
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    Environment =
                    {
                        ["Serving__VerifyChecksums"] = parse.GetValue(verify).ToString(),
                        ["Serilog__MinimumLevel__Default"] = "Warning",
                    },
                };
                if (viaDotnet) start.ArgumentList.Add(dll);
                foreach (var a in new[] { "serve", "--models", parse.GetValue(models)!, "--http", $"http://127.0.0.1:{httpPort}", "--grpc", $"http://127.0.0.1:{FreePort()}" })
                    start.ArgumentList.Add(a);
                var clock = Stopwatch.StartNew();
                using var process = Process.Start(start)!;
                process.OutputDataReceived += (_, _) => { };
                process.ErrorDataReceived += (_, _) => { };
                process.BeginOutputReadLine();
                process.BeginErrorReadLine();
                var ready = false;
                while (!ready && clock.Elapsed < TimeSpan.FromSeconds(60) && !process.HasExited)
                {
                    try
                    {
                        using var response = await http.GetAsync($"http://127.0.0.1:{httpPort}/readyz", ct);
                        ready = response.StatusCode == HttpStatusCode.OK;
                    }
                    catch (HttpRequestException) { }
                    catch (TaskCanceledException) when (!ct.IsCancellationRequested) { }
                    if (!ready) await Task.Delay(5, ct);
                }
                var seconds = clock.Elapsed.TotalSeconds;
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync(ct);
                if (!ready) throw new InvalidOperationException($"Replica was not ready after {seconds:F1} s (exit code {(process.HasExited ? process.ExitCode : -1)}).");
                times.Add(seconds);
                Console.WriteLine($"run {run + 1}: ready in {seconds * 1000:F0} ms");
            }
            times.Sort();
            Console.WriteLine($"process start -> /readyz 200: median {times[times.Count / 2] * 1000:F0} ms, min {times[0] * 1000:F0} ms, max {times[^1] * 1000:F0} ms (checksums {(parse.GetValue(verify) ? "verified" : "skipped")})");
            return 0;
        });
        return command;
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
