namespace RecService.Serving;

/// <summary>Replica settings, bound from the "Serving" configuration section (appsettings or Serving__X env vars).</summary>
public sealed class ServingOptions
{
    public const string Section = "Serving";

    /// <summary>The models directory holding version folders and CURRENT.</summary>
    public string ModelsDirectory { get; set; } = "models";
    /// <summary>REST, health and metrics (HTTP/1.1 and HTTP/2 over TLS-less prior knowledge is not negotiable, so gRPC has its own endpoint).</summary>
    public string HttpUrl { get; set; } = "http://127.0.0.1:8080";
    /// <summary>gRPC: HTTP/2 without TLS.</summary>
    public string GrpcUrl { get; set; } = "http://127.0.0.1:8081";
    /// <summary>How often CURRENT is polled for a new version.</summary>
    public TimeSpan PollInterval { get; set; } = TimeSpan.FromSeconds(2);
    /// <summary>Verify every file's checksum before a bundle is served (reads the files once; off only for huge bundles on trusted storage).</summary>
    public bool VerifyChecksums { get; set; } = true;
    /// <summary>StackExchange.Redis configuration string; empty means no Redis (polling only).</summary>
    public string? Redis { get; set; }
    /// <summary>Pub/sub channel the worker announces new versions on.</summary>
    public string ModelChannel { get; set; } = "recservice:models";
    /// <summary>Forest candidates scored per 10 results (0 = the index's default); larger is slower and more exact.</summary>
    public int SearchK { get; set; }
    /// <summary>Forest early stop: a query ends once its remaining cells look unable to beat the candidates kept; larger
    /// stops sooner. -1 = the index's default (28), 0 = off (SearchK alone decides).</summary>
    public float StopSlack { get; set; } = -1;
    /// <summary>Prefix of every shared-state key this service writes to Redis (stations, fresh plays, precomputed lists).</summary>
    public string RedisKeyPrefix { get; set; } = "recservice:";
    /// <summary>How long one Redis call may take before the replica answers without it (degraded).</summary>
    public TimeSpan RedisTimeout { get; set; } = TimeSpan.FromMilliseconds(250);
    /// <summary>After a Redis failure, calls skip Redis (answering degraded at once) for this long before trying again.</summary>
    public TimeSpan RedisRetryAfter { get; set; } = TimeSpan.FromSeconds(1);
    /// <summary>A radio station is forgotten this long after its last use.</summary>
    public TimeSpan StationTtl { get; set; } = TimeSpan.FromHours(2);
    /// <summary>Tracks a station starts from (the seed's nearest by cosine, shuffled).</summary>
    public int StationSize { get; set; } = 250;
    /// <summary>At most this many tracks by one artist in a station's starting set.</summary>
    public int StationTracksPerArtist { get; set; } = 4;
    /// <summary>Neighbours of a liked track pulled into the station on thumbs up.</summary>
    public int StationLikeNeighbours { get; set; } = 20;
    /// <summary>Neighbours of a disliked track moved to the back of the station's queue on thumbs down.</summary>
    public int StationDislikeNeighbours { get; set; } = 20;
    /// <summary>Fresh plays (RecordPlays) are kept this long after a user's last one; training picks them up meanwhile.</summary>
    public TimeSpan FreshPlaysTtl { get; set; } = TimeSpan.FromDays(3);
    /// <summary>Distinct fresh tracks kept per user until their plays expire: bounds what one client can make Redis or a
    /// replica hold, and the work of folding a user's plays in at Recommend. Plays of tracks already kept still add up.</summary>
    public int MaxFreshTracks { get; set; } = 1000;
    /// <summary>In-process state (no Redis, or Redis down): at most this many users' fresh plays and stations each.</summary>
    public int LocalStateLimit { get; set; } = 100_000;
    /// <summary>OTLP endpoint for traces (e.g. http://otel-collector:4317); empty means traces are not exported.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Refuses settings that cannot work (at start, with the setting's name), rather than failing on requests later.</summary>
    public void Validate()
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new ArgumentException($"Serving:{what}");
        }
        Require(RedisTimeout > TimeSpan.Zero, "RedisTimeout must be positive.");
        Require(RedisRetryAfter >= TimeSpan.Zero, "RedisRetryAfter must not be negative.");
        Require(StationTtl > TimeSpan.Zero, "StationTtl must be positive.");
        Require(FreshPlaysTtl > TimeSpan.Zero, "FreshPlaysTtl must be positive.");
        Require(StationSize is >= 1 and <= 2000, "StationSize must be 1..2000.");
        Require(StationTracksPerArtist >= 1, "StationTracksPerArtist must be at least 1.");
        Require(StationLikeNeighbours is >= 1 and <= 500 && StationDislikeNeighbours is >= 1 and <= 500, "StationLikeNeighbours and StationDislikeNeighbours must be 1..500.");
        Require(LocalStateLimit >= 1, "LocalStateLimit must be at least 1.");
        Require(MaxFreshTracks >= 1, "MaxFreshTracks must be at least 1.");
    }
}
