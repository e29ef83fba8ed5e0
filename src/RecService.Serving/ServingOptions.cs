namespace RecService.Serving;

/// <summary>
/// Replica settings, bound from the "Serving" configuration section: appsettings, or environment variables with
/// <c>__</c> for each level (<c>Serving__ModelsDirectory</c>, <c>Serving__Redis__Endpoint</c>, <c>Serving__Radio__StationTtl</c>).
/// Checked at start by <see cref="ServingOptionsValidation"/>.
/// </summary>
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
    /// <summary>OTLP endpoint for traces (e.g. http://otel-collector:4317); empty means traces are not exported.</summary>
    public string? OtlpEndpoint { get; set; }

    /// <summary>Shared state and model notices ("Serving:Redis").</summary>
    public RedisSettings Redis { get; set; } = new();
    /// <summary>Radio stations ("Serving:Radio").</summary>
    public RadioSettings Radio { get; set; } = new();
    /// <summary>Forest search ("Serving:Search").</summary>
    public SearchSettings Search { get; set; } = new();
    /// <summary>Fresh plays and in-process state ("Serving:State").</summary>
    public StateSettings State { get; set; } = new();
    /// <summary>What one request may carry ("Serving:Limits").</summary>
    public LimitSettings Limits { get; set; } = new();

    /// <summary>"Serving:Redis".</summary>
    public sealed class RedisSettings
    {
        /// <summary>StackExchange.Redis configuration string (e.g. redis:6379); empty means no Redis (polling only, in-process state).</summary>
        public string? Endpoint { get; set; }
        /// <summary>Prefix of every shared-state key this service writes to Redis (stations, fresh plays, precomputed lists).</summary>
        public string KeyPrefix { get; set; } = RedisKeys.DefaultPrefix;
        /// <summary>How long one Redis call may take before the replica answers without it (degraded).</summary>
        public TimeSpan Timeout { get; set; } = TimeSpan.FromMilliseconds(250);
        /// <summary>After a Redis failure, calls skip Redis (answering degraded at once) for this long before trying again.</summary>
        public TimeSpan RetryAfter { get; set; } = TimeSpan.FromSeconds(1);
        /// <summary>Pub/sub channel the worker announces new versions on.</summary>
        public string ModelChannel { get; set; } = RedisKeys.DefaultModelChannel;
    }

    /// <summary>"Serving:Radio".</summary>
    public sealed class RadioSettings
    {
        /// <summary>A radio station is forgotten this long after its last use.</summary>
        public TimeSpan StationTtl { get; set; } = TimeSpan.FromHours(2);
        /// <summary>Tracks a station starts from (the seed's nearest by cosine, shuffled).</summary>
        public int StationSize { get; set; } = 250;
        /// <summary>At most this many tracks by one artist in a station's starting set.</summary>
        public int TracksPerArtist { get; set; } = 4;
        /// <summary>Neighbours of a liked track pulled into the station on thumbs up.</summary>
        public int LikeNeighbours { get; set; } = 20;
        /// <summary>Neighbours of a disliked track moved to the back of the station's queue on thumbs down.</summary>
        public int DislikeNeighbours { get; set; } = 20;
        /// <summary>Stations Redis may hold at once (counted by their index, <c>{prefix}stations</c>); a new one past it is
        /// refused (RESOURCE_EXHAUSTED / 429) until others expire. Size it to Redis' memory (STATE.md has the figures).</summary>
        public int MaxStations { get; set; } = 20_000;
        /// <summary>A station ends this long after it started however often it is used (its TTL never reaches past it):
        /// with the bounds on its lists, this bounds what one station can make Redis or a replica hold, and for how long.</summary>
        public TimeSpan MaxStationAge { get; set; } = TimeSpan.FromHours(24);
        /// <summary>Played, liked and disliked tracks a station remembers, each (the latest): a track may come back once
        /// this many others were played after it. The queue holds at most twice <see cref="StationSize"/>.</summary>
        public int MaxHistory { get; set; } = 1000;
    }

    /// <summary>"Serving:Search".</summary>
    public sealed class SearchSettings
    {
        /// <summary>Forest candidates scored per 10 results (0 = the index's default, tuned when the bundle was written);
        /// larger is slower and more exact.</summary>
        public int SearchK { get; set; }
        /// <summary>Forest early stop: a query ends once its remaining cells look unable to beat the candidates kept; larger
        /// stops sooner. -1 = the index's default (28), 0 = off (SearchK alone decides).</summary>
        public float StopSlack { get; set; } = -1;
    }

    /// <summary>"Serving:State".</summary>
    public sealed class StateSettings
    {
        /// <summary>Fresh plays (RecordPlays) are kept this long after a user's last one; training picks them up meanwhile.</summary>
        public TimeSpan FreshPlaysTtl { get; set; } = TimeSpan.FromDays(3);
        /// <summary>Distinct fresh tracks kept per user until their plays expire: bounds what one client can make Redis or a
        /// replica hold, and the work of folding a user's plays in at Recommend. Plays of tracks already kept still add up.</summary>
        public int MaxFreshTracks { get; set; } = 1000;
        /// <summary>In-process state (no Redis, or Redis down): at most this many users' fresh plays and stations each.</summary>
        public int LocalLimit { get; set; } = 100_000;
    }

    /// <summary>"Serving:Limits": bounds on one request, checked before it is parsed (STATE.md lists every bound).</summary>
    public sealed class LimitSettings
    {
        /// <summary>Largest REST body and gRPC message; larger ones are refused unread (413 / RESOURCE_EXHAUSTED).
        /// Sized for the API's largest request, a RecordPlays of its maximum plays with ids at their maximum length.</summary>
        public int MaxRequestBodyBytes { get; set; } = 1 << 20;
        /// <summary>Longest REST request target (path and query, as sent); longer ones answer 414.</summary>
        public int MaxUrlBytes { get; set; } = 64 * 1024;
    }
}
