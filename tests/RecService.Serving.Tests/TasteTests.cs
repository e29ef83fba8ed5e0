using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Core.Sparse;
using RecService.Serving.Recommendations;
using RecService.Models;
using RecService.Models.Als;
using RecService.Serving.Taste;

namespace RecService.Serving.Tests;

/// <summary>Fold-in against a dense solve, the bundle's Y^T Y, and explanations against brute force.</summary>
public sealed class TasteFoldInTests : IDisposable
{
    private readonly TempDirectory _models = new();
    private readonly TestWorld _world;
    private readonly ModelBundle _bundle;

    public TasteFoldInTests()
    {
        var store = new BundleStore(_models.Path);
        var world = new TestWorld(seed: 21, users: 60, tracks: 500, clusters: 10)
        {
            TrackParameters = AlsParameters.Defaults with { Factors = TestWorld.Factors, Alpha = 3.5f, Regularization = 0.2f, Scaling = ConfidenceScaling.Linear },
        };
        _world = world;
        var manifest = world.Publish(store);
        _bundle = ModelBundle.Open(store.PathOf(manifest.ModelVersion), families: KnownFamilies.All);
    }

    public void Dispose()
    {
        _bundle.Dispose();
        _models.Dispose();
    }

    [Fact]
    public void Fold_in_solves_the_full_implicit_als_normal_equations()
    {
        int[] tracks = [3, 17, 42, 99, 250, 251, 498];
        float[] plays = [1, 4, 2, 30, 1, 7, 2];
        var x = new float[TestWorld.Factors];
        var part = AlsParts.Of(_bundle).Tracks;
        Assert.Equal(AlsParameters.Defaults with { Factors = TestWorld.Factors, Alpha = 3.5f, Regularization = 0.2f, Scaling = ConfidenceScaling.Linear }, part.Parameters);
        Assert.True(part.FoldIn(tracks, plays, x));

        // Reference: (Y^T C Y + lambda I) x = Y^T C p over every track (c = 1 + alpha * plays, p = 1 for played, else c = 1, p = 0).
        const double alpha = 3.5, lambda = 0.2;
        var f = TestWorld.Factors;
        var a = new double[f, f];
        var b = new double[f];
        for (var t = 0; t < _world.Tracks; t++)
        {
            var at = Array.IndexOf(tracks, t);
            var c = at >= 0 ? 1 + alpha * plays[at] : 1;
            for (var i = 0; i < f; i++)
            {
                var yi = _world.TrackFactors[t * f + i];
                if (at >= 0) b[i] += c * yi;
                for (var j = 0; j < f; j++) a[i, j] += c * yi * _world.TrackFactors[t * f + j];
            }
        }
        for (var i = 0; i < f; i++) a[i, i] += lambda;
        var expected = Solve(a, b);
        var scale = expected.Max(Math.Abs);
        for (var i = 0; i < f; i++) Assert.True(Math.Abs(expected[i] - x[i]) <= 1e-3 * scale, $"factor {i}: {x[i]} vs {expected[i]}");
    }

    [Fact]
    public void Fold_in_of_nothing_played_is_refused()
    {
        Assert.False(AlsParts.Of(_bundle).Tracks.FoldIn([1, 2], [0, -3], new float[TestWorld.Factors]));
    }

    [Fact]
    public void The_bundle_carries_YtY_and_refuses_a_gram_file_of_other_factors()
    {
        var expected = FactorGram.Compute(_world.TrackFactors, _world.Tracks, TestWorld.Factors);
        Assert.Equal(expected, AlsParts.Of(_bundle).Tracks.Gram.ToArray());

        // Replace the file with the Gram matrix of other factors (manifest sizes still match; checksums off).
        var gramFile = BundleFiles.PartFile(AlsParts.TracksPart, PartRoles.Gram, "mat");
        var other = new TestWorld(seed: 99, users: 60, tracks: 500, clusters: 10);
        var copy = CopyOfBundle("tampered");
        MappedMatrix.Write(Path.Combine(copy, gramFile), FactorGram.Compute(other.TrackFactors, other.Tracks, TestWorld.Factors), TestWorld.Factors, TestWorld.Factors);
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(copy, verifyChecksums: false));
        Assert.Contains(gramFile, error.Message);

        // Without the file (no longer listed), the part is incomplete: refused, not computed on the side.
        Unlist(copy, gramFile);
        var missing = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(copy, verifyChecksums: false, KnownFamilies.All));
        Assert.Contains(gramFile, missing.Message);
    }

    [Fact]
    public void A_reason_is_the_listened_artist_most_similar_to_the_tracks_artist()
    {
        var reasons = new RecommendationReasons();
        // Plays: artist 1 most (tracks 1, 11), then artist 4, then artist 7 (tracks of artist a are a, a + 10, ...).
        int[] played = [1, 11, 4, 7];
        float[] counts = [5, 5, 6, 1];
        Span<int> top = stackalloc int[RecommendationReasons.CandidateArtists];
        var n = reasons.TopArtists(_bundle, played, counts, top);
        Assert.Equal([1, 4, 7], top[..n].ToArray());

        int[] recommended = [21, 2, 3, 5, 6, 8, 9, 0];
        var why = new int[recommended.Length];
        reasons.Explain(_bundle, top[..n], recommended, why);
        Assert.Equal(1, why[0]); // artist 1 itself
        for (var r = 1; r < recommended.Length; r++)
        {
            var artist = _world.TrackCluster[recommended[r]];
            var best = top[..n].ToArray().MaxBy(a => Cosine(a, artist));
            Assert.Equal(best, why[r]);
        }
    }

    [Fact]
    public void Artists_of_many_tracks_match_one_at_a_time_and_refuse_an_unknown_track()
    {
        int[] tracks = [499, 0, 17, 17, 250];
        var artists = new int[tracks.Length];
        _bundle.Catalog.ArtistsOf(tracks, artists);
        Assert.Equal(tracks.Select(_bundle.Catalog.ArtistOf), artists);
        Assert.Equal(tracks.Select(t => _world.TrackCluster[t]), artists);
        Assert.Throws<ArgumentOutOfRangeException>(() => _bundle.Catalog.ArtistsOf([3, 500], new int[2]));
        Assert.Throws<ArgumentException>(() => _bundle.Catalog.ArtistsOf(tracks, new int[2]));
    }

    [Fact]
    public void Listing_hints_ignore_tracks_and_artists_out_of_range()
    {
        // Hints run before the checked reads that report bad ids, so they must never throw.
        Assert.Null(Record.Exception(() => _bundle.PrefetchTrackListing([-1, 0, 499, 500, int.MaxValue, int.MinValue])));
        foreach (var artist in new[] { -1, 0, _bundle.Catalog.ArtistCount - 1, _bundle.Catalog.ArtistCount, int.MaxValue })
            Assert.Null(Record.Exception(() => _bundle.PrefetchArtistListing(artist)));
        Assert.Equal(-1, _bundle.Catalog.ArtistOrNone(500));
        Assert.Equal(-1, _bundle.Catalog.ArtistOrNone(-1));
        Assert.Equal(_bundle.Catalog.ArtistOf(17), _bundle.Catalog.ArtistOrNone(17));
    }

    [Fact]
    public void An_artists_tracks_are_the_catalog_tracks_of_that_artist_most_played_first()
    {
        var catalog = _bundle.Catalog;
        var seen = 0;
        for (var a = 0; a < catalog.ArtistCount; a++)
        {
            var expected = Enumerable.Range(0, catalog.TrackCount).Where(t => catalog.ArtistOf(t) == a)
                .OrderByDescending(catalog.Popularity).ThenBy(t => t).ToArray();
            Assert.Equal(expected, catalog.TracksOf(a).ToArray());
            seen += expected.Length;
        }
        Assert.Equal(catalog.TrackCount, seen);
        Assert.Throws<ArgumentOutOfRangeException>(() => catalog.TracksOf(catalog.ArtistCount).Length);
        Assert.Throws<ArgumentOutOfRangeException>(() => catalog.TracksOf(-1).Length);
    }

    [Fact]
    public void A_reason_phrase_names_the_artist_and_is_made_once_per_bundle()
    {
        var reasons = new RecommendationReasons();
        var phrase = reasons.Phrase(_bundle, 3);
        Assert.Equal($"because you listen to {_bundle.Catalog.ArtistName(3)}", phrase);
        Assert.Same(phrase, reasons.Phrase(_bundle, 3));
        Assert.NotEqual(phrase, reasons.Phrase(_bundle, 4));
        Assert.Throws<ArgumentOutOfRangeException>(() => reasons.Phrase(_bundle, _bundle.Catalog.ArtistCount));
    }

    [Fact]
    public void Stored_top_artists_are_the_ones_the_plays_give_and_a_bundle_without_them_is_refused()
    {
        var reasons = new RecommendationReasons();
        Span<int> stored = stackalloc int[RecommendationReasons.CandidateArtists];
        Span<int> computed = stackalloc int[RecommendationReasons.CandidateArtists];
        for (var user = 0; user < _bundle.Users.Count; user++)
        {
            var n = reasons.StoredTopArtists(_bundle, user, stored);
            var m = reasons.TopArtists(_bundle, _bundle.Played.RowIndices(user), _bundle.Played.RowValues(user), computed);
            Assert.True(n > 0);
            Assert.Equal(computed[..m].ToArray(), stored[..n].ToArray());
        }

        // A file of the wrong shape is refused with the bundle.
        var copy = CopyOfBundle("user-artists");
        var played = CsrMatrix.FromTriples(_bundle.Users.Count, _world.Tracks, [0], [1], [1f]);
        MappedCsr.Write(Path.Combine(copy, BundleFiles.UserArtists), UserArtists.Compute(played, _world.TrackCluster, _bundle.Artists.Count + 1));
        var error = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(copy, verifyChecksums: false));
        Assert.Contains(BundleFiles.UserArtists, error.Message);

        // Without the file (no longer listed) the bundle is incomplete: refused, not explained from the plays on the side.
        Unlist(copy, BundleFiles.UserArtists);
        var missing = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(copy, verifyChecksums: false));
        Assert.Contains(BundleFiles.UserArtists, missing.Message);
    }

    /// <summary>A copy of the test bundle's directory, to tamper with.</summary>
    private string CopyOfBundle(string name)
    {
        var copy = Path.Combine(_models.Path, name);
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.GetFiles(_bundle.Directory)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        return copy;
    }

    /// <summary>Makes a bundle look written before <paramref name="file"/> existed: gone, and not in the manifest.</summary>
    private static void Unlist(string bundle, string file)
    {
        File.Delete(Path.Combine(bundle, file));
        var manifest = BundleManifest.Read(bundle);
        File.WriteAllText(Path.Combine(bundle, BundleManifest.FileName),
            (manifest with { Files = manifest.Files.Where(e => e.Name != file).ToList() }).ToJson());
    }

    private double Cosine(int a, int b)
    {
        var f = TestWorld.Factors;
        double dot = 0, na = 0, nb = 0;
        for (var i = 0; i < f; i++)
        {
            double x = _world.ArtistFactors[a * f + i], y = _world.ArtistFactors[b * f + i];
            dot += x * y;
            na += x * x;
            nb += y * y;
        }
        return dot / Math.Sqrt(na * nb);
    }

    private static double[] Solve(double[,] a, double[] b)
    {
        var n = b.Length;
        var m = (double[,])a.Clone();
        var x = (double[])b.Clone();
        for (var col = 0; col < n; col++)
        {
            var pivot = Enumerable.Range(col, n - col).MaxBy(r => Math.Abs(m[r, col]));
            for (var j = 0; j < n; j++) (m[col, j], m[pivot, j]) = (m[pivot, j], m[col, j]);
            (x[col], x[pivot]) = (x[pivot], x[col]);
            for (var r = col + 1; r < n; r++)
            {
                var factor = m[r, col] / m[col, col];
                for (var j = col; j < n; j++) m[r, j] -= factor * m[col, j];
                x[r] -= factor * x[col];
            }
        }
        for (var r = n - 1; r >= 0; r--)
        {
            for (var j = r + 1; j < n; j++) x[r] -= m[r, j] * x[j];
            x[r] /= m[r, r];
        }
        return x;
    }
}

/// <summary>RecordPlays and real-time taste through a real replica (in-process state: no Redis).</summary>
public sealed class RealtimeTasteTests(ServedWorld served) : IClassFixture<ServedWorld>
{
    private Replica Replica => served.Replica;
    private TestWorld World => served.World;

    [Fact]
    public async Task A_new_user_gets_personal_recommendations_after_a_few_plays()
    {
        const string user = "brand-new-listener";
        var before = await Replica.Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 10 });
        Assert.True(before.Fallback);
        Assert.Equal("popular", before.Source);

        const int cluster = 7;
        var played = Enumerable.Range(0, 5).Select(i => cluster + World.Clusters * i * 3).ToArray();
        var request = new RecordPlaysRequest { UserId = user };
        request.Plays.AddRange(played.Select(t => new Play { TrackId = TestWorld.TrackId(t), Count = 3 }));
        request.Plays.Add(new Play { TrackId = "no-such-track", Count = 1 });
        var recorded = await Replica.Client.RecordPlaysAsync(request);
        Assert.Equal(5, recorded.Accepted);
        Assert.Equal(1, recorded.Unknown);
        Assert.False(recorded.Degraded);

        var after = await Replica.Client.RecommendAsync(new RecommendRequest { UserId = user, Count = 10 });
        Assert.False(after.Fallback);
        Assert.Equal("realtime", after.Source);
        Assert.NotEqual(before.Items.Select(i => i.Id), after.Items.Select(i => i.Id));
        var tracks = after.Items.Select(i => int.Parse(i.Id["track-".Length..])).ToArray();
        Assert.DoesNotContain(tracks, played.Contains);
        Assert.True(tracks.Count(t => World.TrackCluster[t] == cluster) >= 8, $"clusters {string.Join(",", tracks.Select(t => World.TrackCluster[t]))}");
        foreach (var item in after.Items.Where(i => World.TrackCluster[int.Parse(i.Id["track-".Length..])] == cluster))
        {
            Assert.Equal($"because you listen to Band {cluster}", item.Reason);
            Assert.Equal(TestWorld.ArtistId(cluster), item.ReasonArtistId);
        }
    }

    [Fact]
    public async Task A_known_user_is_explained_by_the_artist_they_play()
    {
        var user = 5;
        var response = await Replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(user), Count = 10 });
        Assert.Equal("model", response.Source);
        Assert.All(response.Items, i => Assert.Equal($"because you listen to Band {World.UserCluster[user]}", i.Reason));
    }

    [Fact]
    public async Task Fresh_plays_change_a_known_users_list()
    {
        var user = 9;
        var id = TestWorld.UserId(user);
        var other = (World.UserCluster[user] + 5) % World.Clusters;
        var request = new RecordPlaysRequest { UserId = id };
        request.Plays.AddRange(Enumerable.Range(0, 8).Select(i => new Play { TrackId = TestWorld.TrackId(other + World.Clusters * i), Count = 40 }));
        await Replica.Client.RecordPlaysAsync(request);
        var after = await Replica.Client.RecommendAsync(new RecommendRequest { UserId = id, Count = 10 });
        Assert.Equal("realtime", after.Source);
        Assert.Contains(after.Items, i => World.TrackCluster[int.Parse(i.Id["track-".Length..])] == other);
    }

    [Fact]
    public async Task Bad_plays_are_refused_with_invalid_argument()
    {
        var empty = await Assert.ThrowsAsync<RpcException>(() => Replica.Client.RecordPlaysAsync(new RecordPlaysRequest { UserId = "u" }).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, empty.StatusCode);
        var negative = new RecordPlaysRequest { UserId = "u" };
        negative.Plays.Add(new Play { TrackId = TestWorld.TrackId(1), Count = -2 });
        var error = await Assert.ThrowsAsync<RpcException>(() => Replica.Client.RecordPlaysAsync(negative).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("plays.count", error.Status.Detail);
        var noUser = await Assert.ThrowsAsync<RpcException>(() => Replica.Client.RecordPlaysAsync(new RecordPlaysRequest()).ResponseAsync);
        Assert.Equal(StatusCode.InvalidArgument, noUser.StatusCode);
    }

    [Fact]
    public async Task Plays_can_be_recorded_over_rest()
    {
        var body = new StringContent($$"""{"plays":[{"trackId":"{{TestWorld.TrackId(3)}}","count":2},{"trackId":"{{TestWorld.TrackId(23)}}"}]}""", System.Text.Encoding.UTF8, "application/json");
        var response = await Replica.Http.PostAsync("/v1/users/rest-listener/plays", body);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("\"accepted\": 2", (await response.Content.ReadAsStringAsync()).Replace("\":2", "\": 2"));
        var list = await Replica.Http.GetStringAsync("/v1/users/rest-listener/recommendations");
        Assert.Contains("\"source\"", list);
        Assert.Contains("realtime", list);

        var bad = await Replica.Http.PostAsync("/v1/users/rest-listener/plays", new StringContent("""{"plays":[]}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, bad.StatusCode);
    }
}
