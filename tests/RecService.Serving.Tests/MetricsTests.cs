namespace RecService.Serving.Tests;

/// <summary>
/// Counts read off /metrics. In the RunsAlone collection: replicas in one process share the meter name, so another
/// test's replica starting or stopping meanwhile would add to or drop these series.
/// </summary>
[Collection(nameof(RunsAlone))]
public sealed class MetricsTests(ServedWorld served) : IClassFixture<ServedWorld>
{
    private HttpClient Http => served.Replica.Http;

    [Fact]
    public async Task Recommend_answers_are_counted_by_source()
    {
        // A source not answered yet has no series (0).
        static async Task<long> Count(HttpClient http, string source)
        {
            var prefix = "recservice_recommend_source_total{";
            var line = (await http.GetStringAsync("/metrics")).Split('\n')
                .SingleOrDefault(l => l.StartsWith(prefix) && l.Contains($"source=\"{source}\""));
            return line is null ? 0 : long.Parse(line[(line.LastIndexOf(' ') + 1)..]);
        }
        var model = await Count(Http, "model");
        var popular = await Count(Http, "popular");
        for (var i = 0; i < 3; i++) (await Http.GetAsync($"/v1/users/user-{10 + i}/recommendations?count=2")).EnsureSuccessStatusCode();
        (await Http.GetAsync("/v1/users/nobody-at-all/recommendations?count=2")).EnsureSuccessStatusCode();
        // The exporter caches a scrape for a moment: ask until the counts move (or give up after 5 s).
        long modelNow = model, popularNow = popular;
        for (var attempt = 0; attempt < 50 && (modelNow < model + 3 || popularNow < popular + 1); attempt++)
        {
            await Task.Delay(100);
            (modelNow, popularNow) = (await Count(Http, "model"), await Count(Http, "popular"));
        }
        Assert.True(modelNow >= model + 3, $"three known users answered from the model: {model} -> {modelNow}");
        Assert.True(popularNow >= popular + 1, $"an unknown user answered with popular tracks: {popular} -> {popularNow}");
    }
}
