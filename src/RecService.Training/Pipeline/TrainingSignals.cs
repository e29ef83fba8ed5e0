using RecService.Core.Sampling;
using RecService.Ingest.Catalog;
using RecService.Training.Word2Vec;

namespace RecService.Training.Pipeline;

/// <summary>
/// What a run reads besides the plays, for the ensemble's parts: sequences of tracks (playlists first, then listening
/// sessions) for word2vec, and the artists' tags. Either may be absent; the parts that need them are then left out.
/// </summary>
public sealed class TrainingSignals
{
    public static TrainingSignals None { get; } = new(null, 0, null);

    /// <param name="tracks">Sequences over the catalog's dense track indices.</param>
    /// <param name="playlists">How many of the first sequences are playlists (the rest are sessions).</param>
    public TrainingSignals(TokenSequences? tracks, int playlists, ArtistTags? tags)
    {
        if (playlists < 0 || playlists > (tracks?.Count ?? 0)) throw new ArgumentOutOfRangeException(nameof(playlists));
        Tracks = tracks;
        Playlists = playlists;
        Tags = tags;
    }

    public TokenSequences? Tracks { get; }
    public int Playlists { get; }
    public int Sessions => (Tracks?.Count ?? 0) - Playlists;
    public ArtistTags? Tags { get; }
    public bool HasSequences => Tracks is { TokenCount: > 0 };
    public bool HasTags => Tags is { Applied.NonZeros: > 0 };

    /// <summary>What the sequences are, for a part's parameters: "playlists", "sessions" or both.</summary>
    public string Sources => (Playlists > 0, Sessions > 0) switch
    {
        (true, true) => "playlists,sessions",
        (true, false) => "playlists",
        (false, true) => "sessions",
        _ => "none",
    };

    /// <summary>
    /// Each sequence goes to the held-out side with probability <paramref name="fraction"/>, by a hash of (seed, index):
    /// reproducible, so the word2vec parts and the blend's evidence see the same split.
    /// </summary>
    public (TokenSequences Train, TokenSequences Test) Split(double fraction, ulong seed)
    {
        var all = Tracks ?? throw new InvalidOperationException("No sequences to split.");
        var threshold = (ulong)(fraction * (1UL << 53));
        var salt = SplitMix64.Mix(seed ^ 0x5E9_0E4CE);
        var train = new List<int[]>();
        var test = new List<int[]>();
        for (var i = 0; i < all.Count; i++)
            (SplitMix64.Mix(salt ^ (ulong)i) >> 11 < threshold ? test : train).Add(all[i].ToArray());
        return (TokenSequences.From(all.Vocabulary, train), TokenSequences.From(all.Vocabulary, test));
    }

    /// <summary>The sequences over artists: each track replaced by its artist, a run of one artist's tracks collapsed to one token
    /// (an album played through says one thing about the artist, not twelve).</summary>
    public static TokenSequences ToArtists(TokenSequences tracks, TrackCatalog catalog)
    {
        var offsets = new long[tracks.Count + 1];
        var tokens = new List<int>((int)Math.Min(int.MaxValue, tracks.TokenCount));
        for (var s = 0; s < tracks.Count; s++)
        {
            var last = -1;
            foreach (var t in tracks[s])
            {
                var a = catalog.TrackArtists[t];
                if (a == last) continue;
                tokens.Add(a);
                last = a;
            }
            offsets[s + 1] = tokens.Count;
        }
        return new TokenSequences(catalog.ArtistCount, offsets, [.. tokens]);
    }
}
