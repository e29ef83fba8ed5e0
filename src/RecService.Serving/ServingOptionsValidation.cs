using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;

namespace RecService.Serving;

/// <summary>
/// Refuses settings that cannot work at start, naming the setting, rather than failing on requests later. A flat
/// key from before the settings were grouped (Serving:Redis as the endpoint, Serving:StationTtl...) is refused with
/// its new name, so an old deployment fails loudly instead of silently running without Redis or with defaults.
/// </summary>
public sealed class ServingOptionsValidation(IConfiguration configuration) : IValidateOptions<ServingOptions>
{
    /// <summary>Keys under "Serving" that moved when the settings were grouped by concern: old name -> new name.</summary>
    public static readonly IReadOnlyDictionary<string, string> Moved = new Dictionary<string, string>
    {
        ["Redis"] = "Redis:Endpoint",
        ["RedisKeyPrefix"] = "Redis:KeyPrefix",
        ["RedisTimeout"] = "Redis:Timeout",
        ["RedisRetryAfter"] = "Redis:RetryAfter",
        ["ModelChannel"] = "Redis:ModelChannel",
        ["StationTtl"] = "Radio:StationTtl",
        ["StationSize"] = "Radio:StationSize",
        ["StationTracksPerArtist"] = "Radio:TracksPerArtist",
        ["StationLikeNeighbours"] = "Radio:LikeNeighbours",
        ["StationDislikeNeighbours"] = "Radio:DislikeNeighbours",
        ["SearchK"] = "Search:SearchK",
        ["StopSlack"] = "Search:StopSlack",
        ["FreshPlaysTtl"] = "State:FreshPlaysTtl",
        ["MaxFreshTracks"] = "State:MaxFreshTracks",
        ["LocalStateLimit"] = "State:LocalLimit",
    };

    /// <summary>Kestrel reads a request line into its request buffer: URLs above this could not reach the replica's own 414.</summary>
    public const int MaxUrlBytesCeiling = 512 * 1024;

    public ValidateOptionsResult Validate(string? name, ServingOptions options)
    {
        List<string> failures = [];
        void Require(bool ok, string what)
        {
            if (!ok) failures.Add($"{ServingOptions.Section}:{what}");
        }
        var section = configuration.GetSection(ServingOptions.Section);
        foreach (var (old, now) in Moved)
        {
            if (!string.IsNullOrEmpty(section[old]))
                failures.Add($"{ServingOptions.Section}:{old} is now {ServingOptions.Section}:{now} (environment {ServingOptions.Section}__{now.Replace(":", "__", StringComparison.Ordinal)}).");
        }
        var (redis, radio, state) = (options.Redis, options.Radio, options.State);
        Require(redis.Timeout > TimeSpan.Zero, "Redis:Timeout must be positive.");
        Require(redis.RetryAfter >= TimeSpan.Zero, "Redis:RetryAfter must not be negative.");
        Require(radio.StationTtl > TimeSpan.Zero, "Radio:StationTtl must be positive.");
        Require(radio.MaxStationAge > TimeSpan.Zero, "Radio:MaxStationAge must be positive.");
        Require(radio.MaxHistory >= 1, "Radio:MaxHistory must be at least 1.");
        Require(radio.MaxStations >= 1, "Radio:MaxStations must be at least 1.");
        Require(state.FreshPlaysTtl > TimeSpan.Zero, "State:FreshPlaysTtl must be positive.");
        Require(radio.StationSize is >= 1 and <= 2000, "Radio:StationSize must be 1..2000.");
        Require(radio.TracksPerArtist >= 1, "Radio:TracksPerArtist must be at least 1.");
        Require(radio.LikeNeighbours is >= 1 and <= 500 && radio.DislikeNeighbours is >= 1 and <= 500, "Radio:LikeNeighbours and Radio:DislikeNeighbours must be 1..500.");
        Require(state.LocalLimit >= 1, "State:LocalLimit must be at least 1.");
        Require(state.MaxFreshTracks >= 1, "State:MaxFreshTracks must be at least 1.");
        Require(options.Limits.MaxRequestBodyBytes is >= 4096 and <= 256 << 20, "Limits:MaxRequestBodyBytes must be 4096..268435456.");
        Require(options.Limits.MaxUrlBytes is >= 1024 and <= MaxUrlBytesCeiling, $"Limits:MaxUrlBytes must be 1024..{MaxUrlBytesCeiling}.");
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
