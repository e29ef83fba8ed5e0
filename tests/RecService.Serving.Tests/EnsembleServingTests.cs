using System.Net;
using Grpc.Core;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Models;
using RecService.Models.Ensemble;
using RecService.Models.Similarity;
using RecService.Models.Tags;
using RecService.Models.Word2Vec;

namespace RecService.Serving.Tests;

/// <summary>
/// The ensemble as a replica serves it: a bundle of ALS parts, a word2vec part and a tag part with blends whose weights
/// a test sets. The blend's weights decide the order (all weight on one part gives that part's own answer), a request
/// can name a part, and a part the bundle lacks is NOT_FOUND with its name, over gRPC and REST.
/// </summary>
public sealed class EnsembleServingTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "rs-ensemble-" + Guid.NewGuid().ToString("N"));
    private readonly TestWorld _world = new(11, users: 200, tracks: 600, clusters: 12);

    public void Dispose()
    {
        try { Directory.Delete(_dir, recursive: true); } catch (IOException) { }
    }

    private static readonly string[] TrackFeatures =
    [
        BlendFeatures.SimilarityOf("tracks"), BlendFeatures.MissingOf("tracks"),
        BlendFeatures.SimilarityOf(EnsembleParts.Word2VecTracks), BlendFeatures.MissingOf(EnsembleParts.Word2VecTracks),
        BlendFeatures.SimilarityOf("artists"), BlendFeatures.SameArtist, BlendFeatures.Intercept,
    ];

    private static readonly string[] ArtistFeatures =
    [
        BlendFeatures.SimilarityOf("artists"), BlendFeatures.SimilarityOf(EnsembleParts.TagArtists), BlendFeatures.MissingOf(EnsembleParts.TagArtists), BlendFeatures.Intercept,
    ];

    /// <summary>The world's ALS parts plus a word2vec part over tracks (random vectors, a zero row for every tenth track),
    /// a tag part over artists and the two blends with the given weights.</summary>
    private BundleContent Content(float[] trackWeights, float[] artistWeights, string[]? trackFeatures = null)
    {
        var rng = new Xoshiro256(5);
        const int d = 8;
        var vectors = new float[_world.Tracks * d];
        for (var t = 0; t < _world.Tracks; t++)
            if (t % 10 != 0)
                for (var j = 0; j < d; j++) vectors[t * d + j] = (float)rng.NextGaussian();
        var w2v = VectorFamily.Content(EnsembleParts.Word2VecTracks, Word2VecFamily.Name, IdSpaces.Tracks, vectors, _world.Tracks, d,
            new Word2VecParameters(d, 5, 5, 5, 1e-3, "playlists"));
        // Tags: artist a carries tag a % 3 and tag 3 + a % 4.
        var artists = _world.Clusters;
        var rows = new List<int>();
        var cols = new List<int>();
        var vals = new List<float>();
        for (var a = 0; a < artists; a++)
        {
            rows.AddRange([a, a]);
            cols.AddRange([a % 3, 3 + a % 4]);
            vals.AddRange([0.8f, 0.6f]);
        }
        var weights = CsrMatrix.FromTriples(artists, 7, rows.ToArray(), cols.ToArray(), vals.ToArray());
        // Stored neighbours of artist 0, by those tags: 3 (sharing tag 0, cosine 0.64) and 4 (sharing tag 3, 0.36).
        var near = CsrMatrix.FromTriples(artists, artists, [0, 0], [3, 4], [0.64f, 0.36f]);
        var tags = new PartContent
        {
            Name = EnsembleParts.TagArtists,
            Family = TagFamily.Name,
            Items = IdSpaces.Artists,
            Sparse = new Dictionary<string, CsrMatrix> { [TagFamily.Weights] = weights, [TagFamily.Neighbours] = near },
            Parameters = PartContent.ParametersOf(TagParameters.Defaults),
        };
        var blendTracks = BlendFamily.Content(EnsembleParts.BlendTracks, new BlendParameters(IdSpaces.Tracks, 100, 0.01, "test"),
            trackFeatures ?? TrackFeatures, trackWeights, new Dictionary<string, double>());
        var blendArtists = BlendFamily.Content(EnsembleParts.BlendArtists, new BlendParameters(IdSpaces.Artists, 100, 0.01, "test"),
            ArtistFeatures, artistWeights, new Dictionary<string, double>());
        var content = _world.Content();
        return content with { Parts = [.. content.Parts, w2v, tags, blendTracks, blendArtists] };
    }

    private string Publish(BundleContent content, string name)
    {
        var store = new BundleStore(Path.Combine(_dir, name));
        store.Publish(new BundleManifest(), content, new BundleForestOptions { TrackTrees = 4, ArtistTrees = 2, Threads = 1 });
        return store.Root;
    }

    private async Task<Replica> Serve(BundleContent content, string name)
    {
        var root = Publish(content, name);
        var replica = await Replica.StartAsync(root);
        await replica.WaitForVersionAsync(new BundleStore(root).CurrentVersion()!);
        return replica;
    }

    private static List<string> Ids(ItemsResponse r) => r.Items.Select(i => i.Id).ToList();

    [Fact]
    public async Task The_blend_weights_from_the_bundle_decide_the_answer_and_a_request_can_name_a_part()
    {
        // All weight on word2vec: the ensemble's similar tracks are word2vec's own.
        await using (var replica = await Serve(Content([0, 0, 1, 0, 0, 0, 0], [0, 1, 0, 0]), "w2v"))
        {
            foreach (var t in new[] { 3, 17, 141, 588 })
            {
                var ensemble = await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(t), Count = 10 });
                var part = await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(t), Count = 10, Model = EnsembleParts.Word2VecTracks });
                Assert.Equal("ensemble", ensemble.Model);
                Assert.Equal(EnsembleParts.Word2VecTracks, part.Model);
                Assert.Equal(Ids(part), Ids(ensemble));
                Assert.Equal(10, ensemble.Items.Count);
                // Scores are the blend's probabilities, best first.
                Assert.All(ensemble.Items, i => Assert.InRange(i.Score, 0f, 1f));
                Assert.Equal(ensemble.Items.Select(i => i.Score).OrderByDescending(s => s), ensemble.Items.Select(i => i.Score));
            }
            // A track word2vec lacks (a zero row): the part alone has nothing, the ensemble still answers from the others.
            var lacking = await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(20), Count = 10, Model = EnsembleParts.Word2VecTracks });
            Assert.Empty(lacking.Items);
            Assert.Equal(10, (await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(20), Count = 10 })).Items.Count);
            // Artists, all weight on tags: the part alone gives its stored list; the ensemble scores every candidate (the
            // ALS part proposes them all here) by tag cosine, so the three artists sharing artist 0's heavier tag lead.
            var related = await replica.Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = TestWorld.ArtistId(0), Count = 5 });
            var tagsAlone = await replica.Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = TestWorld.ArtistId(0), Count = 5, Model = EnsembleParts.TagArtists });
            Assert.Equal([TestWorld.ArtistId(3), TestWorld.ArtistId(4)], Ids(tagsAlone));
            Assert.Equal([TestWorld.ArtistId(3), TestWorld.ArtistId(6), TestWorld.ArtistId(9)], Ids(related).Take(3));
            Assert.Equal([TestWorld.ArtistId(4), TestWorld.ArtistId(8)], Ids(related).Skip(3).Order());
        }
        // All weight on ALS: the ensemble's answer is the ALS part's (model=tracks is the replica's ALS search).
        await using (var replica = await Serve(Content([1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0]), "als"))
        {
            foreach (var t in new[] { 3, 17, 141 })
            {
                var ensemble = await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(t), Count = 10 });
                var als = await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(t), Count = 10, Model = "tracks" });
                Assert.Equal("tracks", als.Model);
                Assert.Equal(Ids(als), Ids(ensemble));
            }
        }
    }

    [Fact]
    public async Task A_part_the_bundle_lacks_is_not_found_with_its_name_over_grpc_and_rest()
    {
        await using var replica = await Serve(Content([1, 0, 1, 0, 0, 0, 0], [1, 1, 0, 0]), "missing");
        var similar = await Assert.ThrowsAsync<RpcException>(async () =>
            await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(1), Model = "bpr-tracks" }));
        Assert.Equal(StatusCode.NotFound, similar.StatusCode);
        Assert.Contains("'bpr-tracks'", similar.Status.Detail);
        Assert.Contains("w2v-tracks", similar.Status.Detail); // and says which parts there are
        // A part over the other space is not an answer either.
        var wrongSpace = await Assert.ThrowsAsync<RpcException>(async () =>
            await replica.Client.RelatedArtistsAsync(new RelatedArtistsRequest { ArtistId = TestWorld.ArtistId(1), Model = EnsembleParts.Word2VecTracks }));
        Assert.Equal(StatusCode.NotFound, wrongSpace.StatusCode);
        var radio = await Assert.ThrowsAsync<RpcException>(async () =>
            await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(1), Model = "w2v-artists" }));
        Assert.Equal(StatusCode.NotFound, radio.StatusCode);
        Assert.Contains("'w2v-artists'", radio.Status.Detail);

        using var rest = await replica.Http.GetAsync($"/v1/tracks/{TestWorld.TrackId(1)}/similar?model=bpr-tracks");
        Assert.Equal(HttpStatusCode.NotFound, rest.StatusCode);
        Assert.Contains("'bpr-tracks'", await rest.Content.ReadAsStringAsync());
        using var ok = await replica.Http.GetAsync($"/v1/artists/{TestWorld.ArtistId(1)}/related?model=tags-artists");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Contains("\"model\":\"tags-artists\"", (await ok.Content.ReadAsStringAsync()).Replace(" ", ""));

        // A station started on a part keeps it: its tracks come from word2vec's neighbours of the seed.
        var station = await replica.Radio.StartRadioAsync(new StartRadioRequest { TrackId = TestWorld.TrackId(3), Count = 5, Model = EnsembleParts.Word2VecTracks });
        Assert.Equal(5, station.Items.Count);
    }

    [Fact]
    public async Task A_new_user_with_a_few_fresh_plays_gets_fold_in_reranked_toward_the_ensembles_neighbours()
    {
        var played = new[] { 3, 17, 141 };
        async Task<(List<string> List, string Source, int Near, string KnownSource)> Ask(float w2vWeight, string name)
        {
            // Weights like a fitted blend's (large, with a negative intercept), so its probabilities tell neighbours apart.
            await using var replica = await Serve(Content([0, 0, w2vWeight, 0, 0, 0, w2vWeight == 0 ? 0 : -6], [1, 0, 0, 0]), name);
            var plays = new RecordPlaysRequest { UserId = "newcomer-7" };
            plays.Plays.AddRange(played.Select(t => new Play { TrackId = TestWorld.TrackId(t), Count = 20 }));
            Assert.Equal(3, (await replica.Client.RecordPlaysAsync(plays)).Accepted);
            var list = await replica.Client.RecommendAsync(new RecommendRequest { UserId = "newcomer-7", Count = 10 });
            Assert.Equal(10, list.Items.Count);
            Assert.DoesNotContain(list.Items, i => played.Select(TestWorld.TrackId).Contains(i.Id));
            var near = new HashSet<string>();
            foreach (var t in played)
                near.UnionWith(Ids(await replica.Client.SimilarTracksAsync(new SimilarTracksRequest { TrackId = TestWorld.TrackId(t), Count = 20, Model = EnsembleParts.Word2VecTracks })));
            var known = await replica.Client.RecommendAsync(new RecommendRequest { UserId = TestWorld.UserId(5), Count = 10 });
            return (list.Items.Select(i => i.Id).ToList(), list.Source, list.Items.Count(i => near.Contains(i.Id)), known.Source);
        }
        // A blend of zero weights adds nothing: the list is fold-in's own order.
        var flat = await Ask(0, "flat");
        // All weight on word2vec: the played tracks' word2vec neighbours move into the list.
        var w2v = await Ask(12, "w2v-heavy");
        Assert.Equal("ensemble", flat.Source);
        Assert.Equal("ensemble", w2v.Source);
        Assert.Equal("model", w2v.KnownSource); // a user the model knows is the model's
        Assert.NotEqual(flat.List, w2v.List);
        Assert.True(w2v.Near > flat.Near, $"{w2v.Near} of the list are word2vec neighbours of the played tracks, against {flat.Near} without the ensemble's term");
    }

    [Fact]
    public void A_blend_naming_a_part_the_bundle_lacks_or_an_unknown_feature_is_refused_at_open()
    {
        var missingPart = Publish(Content([1, 0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0], [.. TrackFeatures, BlendFeatures.SimilarityOf("bpr-tracks")]), "no-part");
        var refused = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(Path.Combine(missingPart, new BundleStore(missingPart).CurrentVersion()!), families: KnownFamilies.All));
        Assert.Contains("bpr-tracks", refused.Message);
        Assert.Contains("blend part blend-tracks", refused.Message);

        var unknownFeature = Publish(Content([1, 0, 0, 0, 0, 0, 0, 1], [1, 0, 0, 0], [.. TrackFeatures, "popularity-squared"]), "no-feature");
        var unknown = Assert.Throws<InvalidDataException>(() => ModelBundle.Open(Path.Combine(unknownFeature, new BundleStore(unknownFeature).CurrentVersion()!), families: KnownFamilies.All));
        Assert.Contains("popularity-squared", unknown.Message);
    }
}
