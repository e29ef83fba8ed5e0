using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Serialization;

namespace RecService.Serving.Radio;

/// <summary>What a station was started from.</summary>
public enum StationSeedKind { Track, Artist }

/// <summary>A queued track and, when it came from a thumbs up, the liked track that pulled it in.</summary>
public sealed record QueuedTrack(string Id, string? Because = null);

/// <summary>
/// One radio station's state, by track id (not dense index) so it survives a model swap: the queue (front first),
/// what was played (never repeated), and the thumbs. Stored as JSON in Redis or in-process.
/// </summary>
public sealed class RadioStation
{
    public required string Id { get; init; }
    public required StationSeedKind SeedKind { get; init; }
    public required string SeedId { get; init; }
    /// <summary>When the station started (UTC); it ends <see cref="ServingOptions.RadioSettings.MaxStationAge"/> later.
    /// Unset (a station stored before it was recorded) counts from its next change.</summary>
    public DateTimeOffset Started { get; set; }
    /// <summary>The model part the station was asked for (null: the bundle's default); a bundle without it serves the default.</summary>
    public string? Model { get; init; }
    public List<QueuedTrack> Queue { get; set; } = [];
    public List<string> Played { get; set; } = [];
    public List<string> Liked { get; set; } = [];
    public List<string> Disliked { get; set; } = [];

    /// <summary>
    /// A new station id: kind, the seed id (base64url) and 96 random bits, e.g. <c>t.dHJhY2stNw.3f9a...</c>. Carrying
    /// the seed lets a replica rebuild the station from its id alone while Redis is unreachable.
    /// </summary>
    public static string NewId(StationSeedKind kind, string seedId) =>
        $"{(kind == StationSeedKind.Track ? 't' : 'a')}.{Base64Url.EncodeToString(Encoding.UTF8.GetBytes(seedId))}.{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}";

    /// <summary>The seed a station id names; false for anything that is not a station id.</summary>
    public static bool TryParseId(string stationId, out StationSeedKind kind, out string seedId)
    {
        kind = default;
        seedId = "";
        var parts = stationId.Split('.');
        if (parts.Length != 3 || parts[0] is not ("t" or "a") || parts[2].Length != 24 || !parts[2].All(char.IsAsciiHexDigitLower)) return false;
        try
        {
            seedId = Encoding.UTF8.GetString(Base64Url.DecodeFromChars(parts[1]));
        }
        catch (FormatException)
        {
            return false;
        }
        kind = parts[0] == "t" ? StationSeedKind.Track : StationSeedKind.Artist;
        return seedId.Length > 0;
    }
}

[JsonSerializable(typeof(RadioStation))]
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, UseStringEnumConverter = true)]
internal sealed partial class RadioJson : JsonSerializerContext;
