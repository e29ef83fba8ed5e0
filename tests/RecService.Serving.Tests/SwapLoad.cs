using System.Net;
using RecService.Api.V1;

namespace RecService.Serving.Tests;

/// <summary>
/// A steady mixed load on a replica while bundles swap under it: half the workers ask Recommend over gRPC, half
/// SimilarTracks over REST, each walking the test world's users and tracks, until <see cref="StopAsync"/>. Every
/// wrong answer or exception is a failure; the model versions Recommend answered with are kept.
/// </summary>
internal sealed class SwapLoad
{
    private readonly Replica _replica;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<string> _failures = [];
    private readonly HashSet<string> _versions = [];
    private readonly List<Task> _workers;
    private int _requests;

    private SwapLoad(Replica replica, int workers)
    {
        _replica = replica;
        _workers = Enumerable.Range(0, workers).Select(Load).ToList();
    }

    public static SwapLoad Start(Replica replica, int workers = 6) => new(replica, workers);

    public IReadOnlyList<string> Failures => _failures;
    public IReadOnlySet<string> Versions => _versions;
    public int Requests => Volatile.Read(ref _requests);

    public async Task StopAsync()
    {
        _stop.Cancel();
        await Task.WhenAll(_workers);
        _stop.Dispose();
    }

    private async Task Load(int worker)
    {
        var u = worker;
        while (!_stop.IsCancellationRequested)
        {
            u = (u + 7) % 400;
            try
            {
                if (worker % 2 == 0)
                {
                    var r = await _replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(u), Count = 10 });
                    if (r.Items.Count != 10) Fail($"{r.Items.Count} items");
                    lock (_versions) _versions.Add(r.ModelVersion);
                }
                else
                {
                    using var response = await _replica.Http.GetAsync($"/v1/tracks/{TestWorld.TrackId(u)}/similar?count=5");
                    if (response.StatusCode != HttpStatusCode.OK) Fail($"HTTP {(int)response.StatusCode}");
                }
                Interlocked.Increment(ref _requests);
            }
            catch (Exception ex)
            {
                Fail(ex.Message);
            }
        }
    }

    private void Fail(string failure)
    {
        lock (_failures) _failures.Add(failure);
    }
}
