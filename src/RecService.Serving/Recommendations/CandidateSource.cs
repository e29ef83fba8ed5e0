using RecService.Core.Bundle;

namespace RecService.Serving.Recommendations;

/// <summary>
/// One way of finding a user's tracks. Recommend asks the registered sources in <see cref="Order"/> and keeps the
/// first non-empty answer; the explanation step then runs on whichever list won. A new model or source is one class
/// implementing this plus its registration (<c>AddCandidateSource&lt;T&gt;()</c>).
/// </summary>
public interface ICandidateSource
{
    /// <summary>The name the API and the metrics give lists from this source (<c>RecommendResponse.source</c>).</summary>
    string Name { get; }

    /// <summary>Position in the chain, lowest first. The built-in sources leave gaps (100, 200, ...) for others.</summary>
    int Order { get; }

    /// <summary>True for a list that does not depend on the user (the response's <c>fallback</c>).</summary>
    bool IsFallback => false;

    /// <summary>
    /// Called before the user's plays are read, for a user the bundle knows: starts loading what <see cref="Fill"/>
    /// will read (a cache miss apiece in the mapped files), so the misses overlap instead of following one another.
    /// </summary>
    void Prefetch(ModelBundle bundle, int user) { }

    /// <summary>
    /// Up to <c>ids.Length</c> tracks for the user with their scores, best first, none of them in
    /// <see cref="RecommendationContext.Played"/> or <see cref="RecommendationContext.Excluded"/>; returns how many,
    /// 0 to let the next source answer. Runs on the request's thread: no I/O here (reads happen before the chain).
    /// </summary>
    int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores);
}

/// <summary>
/// What the sources of one Recommend call see: the leased bundle, the user, their plays (the bundle's row, with fresh
/// plays merged in), what to leave out, and what was read for the user before the chain ran (in one round trip).
/// </summary>
public readonly ref struct RecommendationContext
{
    public required ModelBundle Bundle { get; init; }
    /// <summary>The user's index in the bundle, or -1 for a user the model has not seen.</summary>
    public required int User { get; init; }
    /// <summary>Every track the user played (the bundle's history and fresh plays), distinct.</summary>
    public required ReadOnlySpan<int> Tracks { get; init; }
    /// <summary>Play counts of <see cref="Tracks"/>.</summary>
    public required ReadOnlySpan<float> Plays { get; init; }
    /// <summary>Fresh plays (RecordPlays) of tracks this bundle knows; 0 when the history is the bundle's own.</summary>
    public required int FreshKnown { get; init; }
    /// <summary>Played tracks to leave out (empty when the request keeps them).</summary>
    public required ReadOnlySpan<int> Played { get; init; }
    /// <summary>The request's own exclusions.</summary>
    public required ReadOnlySpan<int> Excluded { get; init; }
    /// <summary>The Discover list stored for the user (<c>rec precompute</c>), if one was read.</summary>
    public byte[]? StoredList { get; init; }
}
