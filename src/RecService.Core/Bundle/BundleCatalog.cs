using System.Runtime.Intrinsics.X86;

namespace RecService.Core.Bundle;

/// <summary>
/// Track and artist metadata read from <c>catalog.meta</c>: each track's artist and title, each artist's name,
/// per-track play counts and tracks in descending popularity (the cold-start fallback).
/// </summary>
public sealed unsafe class BundleCatalog
{
    private readonly int* _trackArtist;
    private readonly float* _popularity;
    private readonly MappedStrings _titles;
    private readonly MappedStrings _artistNames;
    private readonly int* _popular;
    private readonly string _path;

    /// <summary>Tracks grouped by artist: Starts[a]..Starts[a + 1] index Tracks.</summary>
    private sealed record ArtistTrackIndex(int[] Starts, int[] Tracks);

    // Built on first use, not at load: only artist radio needs it, and one counting pass over the track -> artist
    // column (a few ms and 4 bytes a track at 1M tracks) replaces a pass over the whole catalog per station.
    private ArtistTrackIndex? _artistTracks;

    internal BundleCatalog(SectionFile file, int tracks, int artists)
    {
        _path = file.Path;
        _trackArtist = file.Pointer<int>(BundleFiles.CatalogSections.TrackArtist, out var n);
        _popularity = file.Pointer<float>(BundleFiles.CatalogSections.TrackPopularity, out var p);
        _popular = file.Pointer<int>(BundleFiles.CatalogSections.PopularOrder, out var order);
        _titles = new MappedStrings(file, BundleFiles.CatalogSections.TrackTitleOffsets, BundleFiles.CatalogSections.TrackTitleBlob);
        _artistNames = new MappedStrings(file, BundleFiles.CatalogSections.ArtistNameOffsets, BundleFiles.CatalogSections.ArtistNameBlob);
        if (n != tracks || p != tracks || _titles.Count != tracks || order > tracks)
            throw new InvalidDataException($"{_path}: track metadata does not cover the {tracks} tracks.");
        if (_artistNames.Count != artists) throw new InvalidDataException($"{_path}: {_artistNames.Count} artist names for {artists} artists.");
        TrackCount = tracks;
        ArtistCount = artists;
        PopularCount = (int)order;
    }

    public int TrackCount { get; }
    public int ArtistCount { get; }
    public int PopularCount { get; }

    public int ArtistOf(int track)
    {
        if ((uint)track >= (uint)TrackCount) throw new ArgumentOutOfRangeException(nameof(track));
        var artist = _trackArtist[track];
        return (uint)artist < (uint)ArtistCount ? artist : throw new InvalidDataException($"{_path}: track {track} has artist {artist} outside {ArtistCount}.");
    }

    /// <summary>The artist's tracks, most played first (ties in ascending order): radio and the ensemble take an
    /// artist's top few as a prefix, where picking them read every track's plays, scattered over the catalog.</summary>
    public ReadOnlySpan<int> TracksOf(int artist)
    {
        if ((uint)artist >= (uint)ArtistCount) throw new ArgumentOutOfRangeException(nameof(artist), artist, $"Artist must be in [0, {ArtistCount}).");
        var index = _artistTracks ?? BuildArtistTracks();
        return index.Tracks.AsSpan(index.Starts[artist], index.Starts[artist + 1] - index.Starts[artist]);
    }

    private ArtistTrackIndex BuildArtistTracks()
    {
        var starts = new int[ArtistCount + 1];
        for (var t = 0; t < TrackCount; t++) starts[ArtistOf(t) + 1]++;
        for (var a = 0; a < ArtistCount; a++) starts[a + 1] += starts[a];
        var next = (int[])starts.Clone(); // each artist's next free place
        // One key per track in its artist's run, plays (descending) then index, in a long: keys are unique, so sorting a
        // run fixes its order. Plays are read in track order, one pass over the column.
        var keys = new long[TrackCount];
        for (var t = 0; t < TrackCount; t++) keys[next[_trackArtist[t]]++] = (long)~OrderedBits(_popularity[t]) << 32 | (uint)t;
        var tracks = new int[TrackCount];
        for (var a = 0; a < ArtistCount; a++)
        {
            var run = keys.AsSpan(starts[a], starts[a + 1] - starts[a]);
            run.Sort();
            for (var i = 0; i < run.Length; i++) tracks[starts[a] + i] = (int)(uint)run[i];
        }
        var index = new ArtistTrackIndex(starts, tracks);
        // Racing builders make equal indexes; whichever is published first is kept.
        return Interlocked.CompareExchange(ref _artistTracks, index, null) ?? index;
    }

    /// <summary>A float's bits as an unsigned number in the float's order (negatives flipped whole, positives' sign set);
    /// NaN lowest.</summary>
    private static uint OrderedBits(float value)
    {
        if (float.IsNaN(value)) return 0;
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (bits & 0x8000_0000u) != 0 ? ~bits : bits | 0x8000_0000u;
    }

    /// <summary>The track's artist, or -1 when the track or its stored artist is out of range: for hints, which must not throw.</summary>
    public int ArtistOrNone(int track) =>
        (uint)track < (uint)TrackCount && _trackArtist[track] is var artist && (uint)artist < (uint)ArtistCount ? artist : -1;

    /// <summary>
    /// <see cref="ArtistOf"/> for many tracks: a user's played tracks are scattered over the 4-bytes-per-track column,
    /// and one tight loop of independent loads lets their cache misses overlap instead of waiting one call at a time.
    /// </summary>
    public void ArtistsOf(ReadOnlySpan<int> tracks, Span<int> artists)
    {
        if (artists.Length < tracks.Length) throw new ArgumentException("artists is shorter than tracks.", nameof(artists));
        for (var k = 0; k < tracks.Length; k++)
        {
            var track = tracks[k];
            if ((uint)track >= (uint)TrackCount) throw new ArgumentOutOfRangeException(nameof(tracks), track, $"Track must be in [0, {TrackCount}).");
            artists[k] = _trackArtist[track];
        }
        for (var k = 0; k < tracks.Length; k++)
        {
            if ((uint)artists[k] >= (uint)ArtistCount)
                throw new InvalidDataException($"{_path}: track {tracks[k]} has artist {artists[k]} outside {ArtistCount}.");
        }
    }

    /// <summary>Starts loading what a response shows for <paramref name="tracks"/> (artist and title), so that building
    /// its items waits for one round of cache misses, not one per field.</summary>
    public void Prefetch(ReadOnlySpan<int> tracks)
    {
        if (!Sse.IsSupported) return;
        foreach (var track in tracks)
        {
            if ((uint)track >= (uint)TrackCount) continue;
            Sse.Prefetch0(_trackArtist + track);
            _titles.Prefetch(track);
        }
    }

    /// <summary>Starts loading an artist's name (a hint: an artist outside the catalog is ignored).</summary>
    public void PrefetchArtistName(int artist) => _artistNames.Prefetch(artist);

    public string Title(int track) => _titles[track];
    public string ArtistName(int artist) => _artistNames[artist];
    public ReadOnlySpan<byte> TitleUtf8(int track) => _titles.Utf8(track);
    public ReadOnlySpan<byte> ArtistNameUtf8(int artist) => _artistNames.Utf8(artist);

    public float Popularity(int track) =>
        (uint)track < (uint)TrackCount ? _popularity[track] : throw new ArgumentOutOfRangeException(nameof(track));

    /// <summary>The i-th most played track.</summary>
    public int Popular(int rank)
    {
        if ((uint)rank >= (uint)PopularCount) throw new ArgumentOutOfRangeException(nameof(rank));
        var track = _popular[rank];
        return (uint)track < (uint)TrackCount ? track : throw new InvalidDataException($"{_path}: popular track {track} outside {TrackCount}.");
    }
}
