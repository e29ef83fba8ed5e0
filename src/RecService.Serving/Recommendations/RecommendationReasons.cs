using System.Text;
using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Core.Vectors;

namespace RecService.Serving.Recommendations;

/// <summary>
/// "Because you listen to X": for each recommended track, the artist among the user's most played ones whose
/// vector (the users x artists model) is closest by cosine to the track's artist. A track by an artist the user
/// plays is explained by that artist itself (cosine 1). Per-thread buffers; nothing allocated per call.
/// </summary>
public sealed class RecommendationReasons
{
    /// <summary>How many of the user's most played artists are candidates for a reason.</summary>
    public const int CandidateArtists = UserArtists.PerUser;

    /// <summary>Phrases are kept per artist up to this many artists (8 MB of references); past it they are built per item.</summary>
    public const int MaxCachedPhrases = 1 << 20;

    private const string PhrasePrefix = "because you listen to ";
    private static readonly byte[] PhrasePrefixUtf8 = Encoding.UTF8.GetBytes(PhrasePrefix);

    /// <summary>The reason given to a popular track recommended to a user the model cannot place.</summary>
    public const string PopularReason = "popular right now";

    /// <summary>The phrases of one bundle's artists, filled as they are asked for.</summary>
    private sealed record Phrases(ModelBundle Bundle, string?[] ByArtist);

    private Phrases? _phrases;

    [ThreadStatic] private static float[]? t_artistPlays;
    [ThreadStatic] private static int[]? t_touched;
    [ThreadStatic] private static int[]? t_trackArtists;

    /// <summary>
    /// The user's most played artists (summing plays over their tracks), most played first, into <paramref name="artists"/>
    /// (at most its length); returns how many. For a history the bundle knows (no fresh plays) use the stored list
    /// (<see cref="StoredTopArtists"/>): this passes over every played track.
    /// </summary>
    public int TopArtists(ModelBundle bundle, ReadOnlySpan<int> tracks, ReadOnlySpan<float> plays, Span<int> artists)
    {
        var catalog = bundle.Catalog;
        var totals = Buffer(ref t_artistPlays, catalog.ArtistCount);
        var touched = Buffer(ref t_touched, tracks.Length);
        var trackArtists = Buffer(ref t_trackArtists, tracks.Length);
        catalog.ArtistsOf(tracks, trackArtists);
        Span<float> topPlays = stackalloc float[UserArtists.PerUser];
        return UserArtists.Top(trackArtists.AsSpan(0, tracks.Length), plays, totals, touched, artists, topPlays);
    }

    /// <summary>
    /// A known user's most played artists as the bundle stores them (the same rule as <see cref="TopArtists"/> over the
    /// user's trained history).
    /// </summary>
    public int StoredTopArtists(ModelBundle bundle, int user, Span<int> artists) =>
        UserArtists.Ranked(bundle.UserArtists.RowIndices(user), bundle.UserArtists.RowValues(user), artists);

    /// <summary>Starts loading the vectors <see cref="Explain"/> will read for <paramref name="listened"/>, so that their
    /// cache misses overlap the search that runs in between.</summary>
    public void Prefetch(ModelBundle bundle, ReadOnlySpan<int> listened)
    {
        AlsParts.Of(bundle).Artists.Prefetch(listened);
        foreach (var artist in listened) bundle.Artists.Prefetch(artist); // a reason names its artist's id
    }

    /// <summary>
    /// For each of <paramref name="recommended"/>, the artist of <paramref name="listened"/> (at most
    /// <see cref="CandidateArtists"/>) most similar to the track's artist by cosine in the artists part (its explanation
    /// hook, <see cref="AlsPart.ClosestByCosine"/>), into <paramref name="reasons"/>.
    /// </summary>
    public void Explain(ModelBundle bundle, ReadOnlySpan<int> listened, ReadOnlySpan<int> recommended, Span<int> reasons)
    {
        if (listened.Length > CandidateArtists) throw new ArgumentException($"At most {CandidateArtists} listened artists.", nameof(listened));
        var trackArtists = Buffer(ref t_trackArtists, recommended.Length);
        bundle.Catalog.ArtistsOf(recommended, trackArtists);
        AlsParts.Of(bundle).Artists.ClosestByCosine(listened, trackArtists.AsSpan(0, recommended.Length), reasons);
    }

    /// <summary>
    /// "because you listen to {artist}", made once per artist of the bundle: a list names up to ten of them, and
    /// building the phrase per item was a seventh of a Recommend's allocations.
    /// </summary>
    public string Phrase(ModelBundle bundle, int artist)
    {
        var artists = bundle.Catalog.ArtistCount;
        if ((uint)artist >= (uint)artists) throw new ArgumentOutOfRangeException(nameof(artist), artist, $"Artist must be in [0, {artists}).");
        if (artists > MaxCachedPhrases) return NewPhrase(bundle, artist);
        var phrases = Volatile.Read(ref _phrases);
        if (phrases is null || !ReferenceEquals(phrases.Bundle, bundle))
        {
            // A swapped-in bundle starts a new table (requests still on the old one may replace it back for a moment).
            phrases = new Phrases(bundle, new string?[artists]);
            Volatile.Write(ref _phrases, phrases);
        }
        return phrases.ByArtist[artist] ??= NewPhrase(bundle, artist);
    }

    /// <summary>An artist's phrase, made anew (<see cref="Phrase"/> keeps them).</summary>
    public static string NewPhrase(ModelBundle bundle, int artist) => string.Concat(PhrasePrefix, bundle.Catalog.ArtistName(artist));

    /// <summary>
    /// <see cref="Phrase"/> as UTF-8 into <paramref name="destination"/>, from the bundle's own bytes: the REST writer
    /// needs no string. Returns the length, or -1 when it does not fit.
    /// </summary>
    public static int PhraseUtf8(ModelBundle bundle, int artist, Span<byte> destination)
    {
        var name = bundle.Catalog.ArtistNameUtf8(artist);
        if (PhrasePrefixUtf8.Length + name.Length > destination.Length) return -1;
        PhrasePrefixUtf8.CopyTo(destination);
        name.CopyTo(destination[PhrasePrefixUtf8.Length..]);
        return PhrasePrefixUtf8.Length + name.Length;
    }

    private static T[] Buffer<T>(ref T[]? buffer, int length) =>
        buffer is { } b && b.Length >= length ? b : buffer = new T[Math.Max(length, 64)];
}
