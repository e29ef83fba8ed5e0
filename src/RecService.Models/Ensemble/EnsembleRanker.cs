using RecService.Core.Bundle;
using RecService.Core.Vectors;
using RecService.Models.Similarity;

namespace RecService.Models.Ensemble;

/// <summary>
/// The ensemble: candidates from every part's nearest items (over tracks, also the tracks of the nearest artists by the
/// artist parts), each candidate scored by every part, the scores blended by the learned weights of a blend part
/// (<see cref="BlendFamily"/>). The trainer fits the weights on exactly the features this class computes, over a bundle
/// of the parts trained on the hold-out split, so training and serving cannot disagree on what a feature is.
/// Per-thread buffers; a call allocates nothing once they have grown.
/// </summary>
public sealed partial class EnsembleRanker
{
    /// <summary>Most candidates asked of one part per seed: a radio station's pool, without scanning a large catalog.</summary>
    public const int MaxPerPart = 1000;
    /// <summary>Tracks taken from each nearest artist when ranking tracks (its most played ones).</summary>
    public const int TracksPerArtist = 10;

    private readonly Signal[] _signals;
    private readonly float[] _weights;
    private readonly float _intercept;
    private readonly int _interceptIndex = -1;
    private readonly int _sameArtistIndex = -1;
    private readonly IItemSimilarity[] _sources;
    private readonly IItemSimilarity[] _artistSources;
    private readonly BundleCatalog _catalog;

    [ThreadStatic] private static int[]? t_candidates;
    [ThreadStatic] private static float[]? t_scratchScores;
    [ThreadStatic] private static int[]? t_excluded;
    [ThreadStatic] private static int[]? t_artists;
    [ThreadStatic] private static float[]? t_artistScores;
    [ThreadStatic] private static int[]? t_owners;
    [ThreadStatic] private static float[]? t_artistParts;

    /// <summary>How many candidates ahead the scoring loops start loading rows: their vectors lie scattered over
    /// matrices far larger than the caches, and a few misses in flight hide most of a memory round trip, where
    /// scoring one after another waits for each (more ahead and the first lines are evicted before use).</summary>
    private const int PrefetchAhead = 8;

    private readonly record struct Signal(IItemSimilarity View, bool ViaArtist, int SimilarityIndex, int MissingIndex);

    private EnsembleRanker(ModelBundle bundle, string space, IReadOnlyList<string> features, ReadOnlySpan<float> weights, BundlePart? blend)
    {
        if (weights.Length != features.Count) throw new InvalidDataException($"{features.Count} features with {weights.Length} weights");
        Space = space;
        Blend = blend;
        Features = features;
        _catalog = bundle.Catalog;
        _weights = weights.ToArray();
        var signals = new Dictionary<string, (IItemSimilarity View, int Similarity, int Missing)>(StringComparer.Ordinal);
        for (var i = 0; i < features.Count; i++)
        {
            var (kind, partName) = BlendFeatures.Parse(features[i]);
            switch (kind)
            {
                case BlendFeatures.Kind.Intercept:
                    _interceptIndex = i;
                    _intercept = _weights[i];
                    break;
                case BlendFeatures.Kind.SameArtist:
                    if (space != IdSpaces.Tracks) throw new InvalidDataException($"feature '{features[i]}' ranks tracks, not {space}");
                    _sameArtistIndex = i;
                    break;
                default:
                    if (!bundle.TryGetPart(partName!, out var part)) throw new InvalidDataException($"feature '{features[i]}' names part '{partName}', which the bundle lacks");
                    var view = ItemSimilarities.Of(part) ?? throw new InvalidDataException($"feature '{features[i]}': part {partName} (family {part.Family}) has no item similarity");
                    if (view.Space != space && !(space == IdSpaces.Tracks && view.Space == IdSpaces.Artists))
                        throw new InvalidDataException($"feature '{features[i]}': part {partName} is over {view.Space}, which does not rank {space}");
                    var slot = signals.TryGetValue(partName!, out var known) ? known : (View: view, Similarity: -1, Missing: -1);
                    signals[partName!] = kind == BlendFeatures.Kind.Similarity ? slot with { Similarity = i } : slot with { Missing = i };
                    break;
            }
        }
        _signals = signals.Values.Select(s => new Signal(s.View, s.View.Space != space, s.Similarity, s.Missing)).ToArray();
        _sources = _signals.Where(s => !s.ViaArtist).Select(s => s.View).ToArray();
        _artistSources = _signals.Where(s => s.ViaArtist).Select(s => s.View).ToArray();
        Parts = _signals.Select(s => s.View.Part.Name).ToArray();
    }

    /// <summary>The ranker a blend part defines, made once per part; throws <see cref="InvalidDataException"/> when it does not fit the bundle.</summary>
    public static EnsembleRanker Of(ModelBundle bundle, BundlePart blend) =>
        blend.View(p =>
        {
            var parameters = p.Parameters<BlendParameters>();
            var weights = p.ItemFactors;
            var features = new string[p.Items.Count];
            for (var i = 0; i < features.Length; i++) features[i] = p.Items[i];
            var values = new float[weights.Rows];
            for (var i = 0; i < values.Length; i++) values[i] = weights.Row(i)[0];
            return new EnsembleRanker(bundle, parameters.Space, features, values, p);
        });

    /// <summary>The bundle's ranker over <paramref name="space"/>, or null when it has no blend for it.</summary>
    public static EnsembleRanker? For(ModelBundle bundle, string space) =>
        bundle.TryGetPart(EnsembleParts.BlendFor(space), out var blend) ? Of(bundle, blend) : null;

    /// <summary>A ranker with the given weights (the trainer's: zeros while it gathers features).</summary>
    public static EnsembleRanker Create(ModelBundle bundle, string space, IReadOnlyList<string> features, ReadOnlySpan<float> weights) =>
        new(bundle, space, features, weights, blend: null);

    public string Space { get; }
    /// <summary>The blend part the weights came from; null for a trainer's ranker.</summary>
    public BundlePart? Blend { get; }
    public IReadOnlyList<string> Features { get; }
    /// <summary>The parts the ranker scores with.</summary>
    public IReadOnlyList<string> Parts { get; }

    /// <summary>Candidates asked of each part for <paramref name="count"/> results.</summary>
    public static int PerPart(int count) => Math.Clamp(3 * count, 30, MaxPerPart);

    /// <summary>The pair's features, in <see cref="Features"/> order (intercept 1).</summary>
    public void FeaturesOf(int seed, int candidate, Span<float> x)
    {
        x.Clear();
        if (_interceptIndex >= 0) x[_interceptIndex] = 1;
        int seedArtist = -1, candidateArtist = -1;
        if (Space == IdSpaces.Tracks)
        {
            seedArtist = _catalog.ArtistOf(seed);
            candidateArtist = _catalog.ArtistOf(candidate);
            if (_sameArtistIndex >= 0) x[_sameArtistIndex] = seedArtist == candidateArtist ? 1 : 0;
        }
        foreach (var s in _signals)
        {
            var (a, b) = s.ViaArtist ? (seedArtist, candidateArtist) : (seed, candidate);
            var has = s.View.TrySimilarity(a, b, out var similarity);
            if (s.SimilarityIndex >= 0) x[s.SimilarityIndex] = similarity;
            if (s.MissingIndex >= 0) x[s.MissingIndex] = has ? 0 : 1;
        }
    }

    /// <summary>The blended score of a pair (a logit): the same sum as <see cref="FeaturesOf"/> dotted with the weights,
    /// without building the vector.</summary>
    public float Score(int seed, int candidate)
    {
        if (Space != IdSpaces.Tracks) return DirectPart(seed, candidate, -1, -1);
        var seedArtist = _catalog.ArtistOf(seed);
        var candidateArtist = _catalog.ArtistOf(candidate);
        return DirectPart(seed, candidate, seedArtist, candidateArtist) + ArtistPart(seedArtist, candidateArtist);
    }

    /// <summary>The intercept and the terms of the pair itself: the parts over the ranked space, same artist.</summary>
    private float DirectPart(int seed, int candidate, int seedArtist, int candidateArtist)
    {
        var z = _intercept;
        if (_sameArtistIndex >= 0 && seedArtist == candidateArtist && seedArtist >= 0) z += _weights[_sameArtistIndex];
        foreach (var s in _signals)
            if (!s.ViaArtist) z += Term(s, seed, candidate);
        return z;
    }

    /// <summary>The terms of the parts over artists when ranking tracks: the same for every track pair of two artists.</summary>
    private float ArtistPart(int seedArtist, int candidateArtist)
    {
        var z = 0f;
        foreach (var s in _signals)
            if (s.ViaArtist) z += Term(s, seedArtist, candidateArtist);
        return z;
    }

    private float Term(in Signal s, int a, int b) =>
        s.View.TrySimilarity(a, b, out var similarity) ? (s.SimilarityIndex >= 0 ? _weights[s.SimilarityIndex] * similarity : 0)
        : s.MissingIndex >= 0 ? _weights[s.MissingIndex] : 0;

    /// <summary>
    /// The union of every part's nearest items to <paramref name="seed"/> (<paramref name="perPart"/> each; ranking tracks,
    /// also up to <see cref="TracksPerArtist"/> tracks of each of the seed's nearest artists and of its own), without the
    /// seed and <paramref name="excluded"/>, deduplicated, into a per-thread buffer that stays valid until the next call.
    /// </summary>
    public ReadOnlySpan<int> Candidates(int seed, int perPart, ReadOnlySpan<int> excluded)
    {
        perPart = Math.Clamp(perPart, 1, MaxPerPart);
        var artistCount = Math.Max(5, perPart / TracksPerArtist);
        var capacity = perPart * _sources.Length + (artistCount + 1) * TracksPerArtist * (_artistSources.Length + 1);
        var buffer = t_candidates is { } b && b.Length >= capacity ? b : t_candidates = new int[Math.Max(capacity, 256)];
        var scores = t_scratchScores is { } s && s.Length >= Math.Max(perPart, artistCount) ? s : t_scratchScores = new float[Math.Max(MaxPerPart, 256)];
        var n = 0;
        foreach (var source in _sources)
            n += source.Candidates(seed, buffer.AsSpan(n, perPart), scores.AsSpan(0, perPart));
        if (Space == IdSpaces.Tracks)
        {
            var artist = _catalog.ArtistOf(seed);
            n += TopTracks(artist, buffer.AsSpan(n, TracksPerArtist));
            var artists = buffer.AsSpan(capacity - artistCount, artistCount); // the buffer's tail, past what tracks can fill
            foreach (var source in _artistSources)
            {
                var found = source.Candidates(artist, artists, scores.AsSpan(0, artistCount));
                for (var i = 0; i < found; i++)
                {
                    var near = artists[i];
                    n += TopTracks(near, buffer.AsSpan(n, TracksPerArtist));
                }
            }
        }
        var all = buffer.AsSpan(0, n);
        all.Sort();
        var excludedSorted = SortedCopy(excluded);
        var kept = 0;
        for (var i = 0; i < all.Length; i++)
        {
            var item = all[i];
            if (item == seed || (kept > 0 && all[kept - 1] == item) || (!excludedSorted.IsEmpty && excludedSorted.BinarySearch(item) >= 0)) continue;
            all[kept++] = item;
        }
        return all[..kept];
    }

    /// <summary>
    /// The <c>ids.Length</c> best candidates for <paramref name="seed"/> by the blend, best first, scores as probabilities;
    /// never the seed nor <paramref name="excluded"/>. Returns how many.
    /// </summary>
    public int Rank(int seed, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded = default, int perPart = 0)
    {
        if (ids.IsEmpty) return 0;
        var candidates = Candidates(seed, perPart > 0 ? perPart : PerPart(ids.Length), excluded);
        var top = new TopK(scores, ids);
        if (Space == IdSpaces.Tracks && _artistSources.Length > 0)
        {
            // Candidates come a handful per artist: each artist's terms once, from a small per-call memo.
            var seedArtist = _catalog.ArtistOf(seed);
            var memo = ArtistMemo.Get();
            PrefetchFirst(candidates);
            for (var i = 0; i < candidates.Length; i++)
            {
                if (i + PrefetchAhead < candidates.Length) Prefetch(candidates[i + PrefetchAhead]);
                var c = candidates[i];
                var artist = _catalog.ArtistOf(c);
                if (!memo.TryGet(artist, out var artistPart)) memo.Set(artist, artistPart = ArtistPart(seedArtist, artist));
                top.Add(DirectPart(seed, c, seedArtist, artist) + artistPart, c);
            }
        }
        else
        {
            PrefetchFirst(candidates);
            for (var i = 0; i < candidates.Length; i++)
            {
                if (i + PrefetchAhead < candidates.Length) Prefetch(candidates[i + PrefetchAhead]);
                top.Add(Score(seed, candidates[i]), candidates[i]);
            }
        }
        var n = top.SortDescending();
        for (var i = 0; i < n; i++) scores[i] = 1f / (1f + MathF.Exp(-scores[i]));
        return n;
    }

    /// <summary>
    /// Radio's pool: the tracks of the seed's artist and of its <paramref name="artistCount"/> nearest artists by the
    /// artists' ensemble (<paramref name="artists"/>), at most <paramref name="perArtist"/> (the most played) of each, ranked by
    /// this (tracks) blend; never the seed nor <paramref name="excluded"/>. A station stays in the seed's neighbourhood of
    /// artists however deep it goes, where the nearest tracks of any one part drift after the first few dozen.
    /// </summary>
    public int RankAmongArtists(int seed, EnsembleRanker artists, int artistCount, int perArtist, Span<int> ids, Span<float> scores, ReadOnlySpan<int> excluded = default)
    {
        if (Space != IdSpaces.Tracks || artists.Space != IdSpaces.Artists) throw new InvalidOperationException("RankAmongArtists ranks tracks from a ranker of artists.");
        if (ids.IsEmpty) return 0;
        artistCount = Math.Clamp(artistCount, 1, MaxPerPart);
        perArtist = Math.Clamp(perArtist, 1, 1000);
        var near = t_artists is { } a && a.Length >= artistCount + 1 ? a : t_artists = new int[Math.Max(artistCount + 1, 256)];
        var seedArtist = _catalog.ArtistOf(seed);
        near[0] = seedArtist;
        var found = 1;
        if (artistCount <= NeighbourhoodSize)
        {
            var neighbourhood = artists.Neighbourhood(seedArtist, artistCount);
            neighbourhood.CopyTo(near.AsSpan(1));
            found += neighbourhood.Length;
        }
        else
        {
            var nearScores = t_artistScores is { } b && b.Length >= artistCount ? b : t_artistScores = new float[Math.Max(artistCount, 256)];
            found += artists.Rank(seedArtist, near.AsSpan(1, artistCount), nearScores.AsSpan(0, artistCount));
        }
        // The pool first (each artist's terms once, its tracks a prefix of the catalog's list), then scored in one
        // pass that loads rows ahead.
        var capacity = found * perArtist;
        var pool = t_candidates is { } c && c.Length >= capacity ? c : t_candidates = new int[Math.Max(capacity, 256)];
        var owners = t_owners is { } o && o.Length >= capacity ? o : t_owners = new int[Math.Max(capacity, 256)];
        var artistParts = t_artistParts is { } p && p.Length >= found ? p : t_artistParts = new float[Math.Max(found, 256)];
        var excludedSorted = SortedCopy(excluded);
        var pooled = 0;
        for (var i = 0; i < found; i++)
        {
            artistParts[i] = ArtistPart(seedArtist, near[i]);
            var end = pooled + TopTracks(near[i], pool.AsSpan(pooled, perArtist));
            for (var j = pooled; j < end; j++) // compacted in place: pooled never passes j
            {
                var candidate = pool[j];
                if (candidate == seed || (!excludedSorted.IsEmpty && excludedSorted.BinarySearch(candidate) >= 0)) continue;
                pool[pooled] = candidate;
                owners[pooled++] = i;
            }
        }
        var candidates = pool.AsSpan(0, pooled);
        var top = new TopK(scores, ids);
        PrefetchFirst(candidates);
        for (var j = 0; j < candidates.Length; j++)
        {
            if (j + PrefetchAhead < candidates.Length) Prefetch(candidates[j + PrefetchAhead]);
            var owner = owners[j];
            top.Add(DirectPart(seed, candidates[j], seedArtist, near[owner]) + artistParts[owner], candidates[j]);
        }
        var kept = top.SortDescending();
        for (var i = 0; i < kept; i++) scores[i] = 1f / (1f + MathF.Exp(-scores[i]));
        return kept;
    }

    /// <summary>Starts loading what the parts over the ranked space read of <paramref name="item"/>.</summary>
    private void Prefetch(int item)
    {
        foreach (var source in _sources) source.Prefetch(item);
    }

    private void PrefetchFirst(ReadOnlySpan<int> candidates)
    {
        for (var i = 0; i < candidates.Length && i < PrefetchAhead; i++) Prefetch(candidates[i]);
    }

    /// <summary>
    /// A per-thread map from artist to a float for one call: open addressing over a power-of-two table, emptied by a
    /// generation count instead of clearing, so a call costs nothing to start. Past half full it stops remembering.
    /// </summary>
    private sealed class ArtistMemo
    {
        private const int Size = 1024;
        private readonly int[] _keys = new int[Size];
        private readonly float[] _values = new float[Size];
        private readonly int[] _generations = new int[Size];
        private int _generation;
        private int _count;

        [ThreadStatic] private static ArtistMemo? t_memo;

        public static ArtistMemo Get()
        {
            var memo = t_memo ??= new ArtistMemo();
            memo._generation++;
            memo._count = 0;
            return memo;
        }

        public bool TryGet(int key, out float value)
        {
            for (var i = Slot(key); _generations[i] == _generation; i = (i + 1) & (Size - 1))
                if (_keys[i] == key)
                {
                    value = _values[i];
                    return true;
                }
            value = 0;
            return false;
        }

        public void Set(int key, float value)
        {
            if (_count >= Size / 2) return;
            var i = Slot(key);
            while (_generations[i] == _generation) i = (i + 1) & (Size - 1);
            _keys[i] = key;
            _values[i] = value;
            _generations[i] = _generation;
            _count++;
        }

        private static int Slot(int key) => (int)((uint)key * 2654435769u >> 22);
    }

    /// <summary>Up to <c>into.Length</c> of the artist's tracks, most played first (the catalog keeps them in that order).</summary>
    private int TopTracks(int artist, Span<int> into)
    {
        var tracks = _catalog.TracksOf(artist);
        var n = Math.Min(tracks.Length, into.Length);
        tracks[..n].CopyTo(into);
        return n;
    }

    private static ReadOnlySpan<int> SortedCopy(ReadOnlySpan<int> excluded)
    {
        if (excluded.IsEmpty) return default;
        var copy = t_excluded is { } e && e.Length >= excluded.Length ? e : t_excluded = new int[Math.Max(excluded.Length, 64)];
        var span = copy.AsSpan(0, excluded.Length);
        excluded.CopyTo(span);
        span.Sort();
        return span;
    }
}
