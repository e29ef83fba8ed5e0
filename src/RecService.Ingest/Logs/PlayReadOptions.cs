namespace RecService.Ingest.Logs;

/// <summary>How plays are read: the bad-row limit, where sessions are cut, and how plays are weighted by age.</summary>
public sealed record PlayReadOptions
{
    public const double DefaultMaxBadFraction = 0.01;
    public static TimeSpan DefaultSessionGap { get; } = TimeSpan.FromMinutes(30);

    /// <summary>The share of bad rows above which the read fails.</summary>
    public double MaxBadFraction { get; init; } = DefaultMaxBadFraction;

    /// <summary>A timestamped play more than this after the user's previous one starts a new session.</summary>
    public TimeSpan SessionGap { get; init; } = DefaultSessionGap;

    /// <summary>
    /// Plays weighted by <c>0.5^(age_days / half_life)</c>, age from the newest snapshot's date to the play's snapshot date,
    /// or for timestamped rows from the newest timestamp to the play's; 0 (the default) weighs every play 1.
    /// </summary>
    public double RecencyHalfLifeDays { get; init; }

    /// <summary>The weight of a play <paramref name="ageDays"/> older than the newest.</summary>
    public double RecencyWeight(double ageDays) => RecencyHalfLifeDays > 0 ? Math.Pow(0.5, ageDays / RecencyHalfLifeDays) : 1;

    public void Validate()
    {
        if (SessionGap <= TimeSpan.Zero) throw new ArgumentException($"The session gap must be positive (got {SessionGap}).");
        if (!(RecencyHalfLifeDays >= 0 && double.IsFinite(RecencyHalfLifeDays))) throw new ArgumentException($"The recency half-life must be 0 (off) or a positive number of days (got {RecencyHalfLifeDays}).");
    }
}
