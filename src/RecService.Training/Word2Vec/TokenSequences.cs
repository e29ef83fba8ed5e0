namespace RecService.Training.Word2Vec;

/// <summary>
/// A corpus of token sequences (playlists, listening sessions) over ids [0, <see cref="Vocabulary"/>): every token in
/// one array, sequence i at <c>Tokens[Offsets[i]..Offsets[i + 1]]</c>. Offsets are 64-bit so a corpus may hold more
/// than 2^31 tokens.
/// </summary>
public sealed class TokenSequences
{
    private readonly long[] _offsets;
    private readonly int[] _tokens;

    public TokenSequences(int vocabulary, long[] offsets, int[] tokens)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(vocabulary);
        if (offsets.Length == 0 || offsets[0] != 0 || offsets[^1] != tokens.LongLength)
            throw new ArgumentException("Offsets start at 0 and end at the token count.", nameof(offsets));
        for (var i = 1; i < offsets.Length; i++)
            if (offsets[i] < offsets[i - 1]) throw new ArgumentException($"Offsets decrease at sequence {i - 1}.", nameof(offsets));
        for (long t = 0; t < tokens.LongLength; t++)
            if ((uint)tokens[t] >= (uint)vocabulary) throw new ArgumentException($"Token {tokens[t]} at {t} is outside [0, {vocabulary}).", nameof(tokens));
        Vocabulary = vocabulary;
        _offsets = offsets;
        _tokens = tokens;
    }

    /// <summary>Builds a corpus from sequences given one by one.</summary>
    public static TokenSequences From(int vocabulary, IEnumerable<IReadOnlyList<int>> sequences)
    {
        var offsets = new List<long> { 0 };
        var tokens = new List<int>();
        foreach (var s in sequences)
        {
            tokens.AddRange(s);
            offsets.Add(tokens.Count);
        }
        return new TokenSequences(vocabulary, [.. offsets], [.. tokens]);
    }

    public int Vocabulary { get; }
    public int Count => _offsets.Length - 1;
    public long TokenCount => _tokens.LongLength;
    public ReadOnlySpan<int> this[int sequence] => _tokens.AsSpan((int)_offsets[sequence], (int)(_offsets[sequence + 1] - _offsets[sequence]));
    /// <summary>The length of the longest of sequences [<paramref name="first"/>, <paramref name="end"/>).</summary>
    public int Longest(int first, int end)
    {
        long longest = 0;
        for (var i = first; i < end; i++) longest = Math.Max(longest, _offsets[i + 1] - _offsets[i]);
        return checked((int)longest);
    }

    /// <summary>Occurrences of every token.</summary>
    public long[] Counts()
    {
        var counts = new long[Vocabulary];
        foreach (var t in _tokens) counts[t]++;
        return counts;
    }

    /// <summary>
    /// Cuts [0, Count) into <paramref name="parts"/> consecutive ranges of about equal token counts (a thread each),
    /// returned as part boundaries (length parts + 1).
    /// </summary>
    public int[] BalancedRanges(int parts)
    {
        parts = Math.Max(1, Math.Min(parts, Math.Max(1, Count)));
        var bounds = new int[parts + 1];
        var sequence = 0;
        for (var p = 1; p < parts; p++)
        {
            var target = TokenCount * p / parts;
            while (sequence < Count && _offsets[sequence + 1] <= target) sequence++;
            // The cut goes on whichever side of the straddling sequence is nearer the target.
            if (sequence < Count && _offsets[sequence + 1] - target < target - _offsets[sequence]) sequence++;
            bounds[p] = Math.Max(bounds[p - 1], sequence);
        }
        bounds[parts] = Count;
        return bounds;
    }
}
