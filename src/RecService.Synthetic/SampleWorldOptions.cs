namespace RecService.Synthetic;

/// <summary>Size and shape of a generated music world. Defaults make a demo world in about a second.</summary>
public sealed record SampleWorldOptions
{
    public int Users { get; init; } = 5_000;
    public int Artists { get; init; } = 1_000;
    public int Tracks { get; init; } = 8_000;
    /// <summary>Total plays over all users and days; 0 means 40 per user.</summary>
    public long Plays { get; init; }
    public int Days { get; init; } = 3;
    public int Genres { get; init; } = 16;
    public ulong Seed { get; init; } = 42;
    public DateOnly FirstDay { get; init; } = new(2026, 11, 1);
    /// <summary>Distinct tracks per play in a user's history: 4M plays give about 2.5M distinct pairs.</summary>
    public double DistinctRatio { get; init; } = 0.62;
    public bool Gzip { get; init; }
    /// <summary>Write one row per play with its unix time (the fourth column), in listening sessions, instead of daily counts.</summary>
    public bool Events { get; init; }
    /// <summary>Playlists to write (<c>playlists/playlists.tsv</c>); -1 means one per four users, 0 none.</summary>
    public int PlaylistCount { get; init; } = -1;
    /// <summary>Write artist tags (<c>catalog/artist_tags.tsv</c>).</summary>
    public bool Tags { get; init; } = true;

    public int Playlists => PlaylistCount >= 0 ? PlaylistCount : Math.Max(1, Users / 4);

    public long TotalPlays => Plays > 0 ? Plays : 40L * Users;

    public void Validate()
    {
        if (Users < 1) throw new ArgumentException("--users must be at least 1.");
        if (Genres < 1) throw new ArgumentException("--genres must be at least 1.");
        if (Artists < Genres) throw new ArgumentException($"--artists ({Artists}) must be at least the number of genres ({Genres}).");
        if (Tracks < Artists) throw new ArgumentException($"--tracks ({Tracks}) must be at least --artists ({Artists}): every artist has a track.");
        if (Days < 1) throw new ArgumentException("--days must be at least 1.");
        if (TotalPlays < Users) throw new ArgumentException("--plays must be at least --users (every user plays something).");
        if (DistinctRatio is <= 0 or > 1) throw new ArgumentException("The distinct ratio must be in (0, 1].");
        if (PlaylistCount < -1) throw new ArgumentException("--playlists must be 0 or more.");
    }
}
