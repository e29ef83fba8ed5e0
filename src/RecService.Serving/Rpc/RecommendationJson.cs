using System.Buffers;
using System.Text.Encodings.Web;
using System.Text.Json;
using Google.Protobuf;
using Google.Protobuf.Reflection;
using RecService.Api.V1;
using RecService.Core.Bundle;
using RecService.Serving.Recommendations;

namespace RecService.Serving.Rpc;

/// <summary>
/// A <see cref="RecommendResponse"/> as REST returns it, written straight from a <see cref="RecommendationList"/> and
/// the bundle's UTF-8 strings. The bytes are the ones gRPC JSON transcoding writes for the message with its default
/// settings (proto3 JSON names in field number order, every field including defaults, relaxed escaping, floats shortest
/// round-trip and non-finite ones as strings); tests hold the two to that, escapes included. Transcoding goes through
/// reflection per property (about 75 for ten items), on a message whose strings were decoded first; this writes one
/// buffer per call. (Invalid UTF-8, which no bundle writer produces, would come out as escaped U+FFFD where the
/// decoded string gave it raw.)
/// </summary>
public static class RecommendationJson
{
    public const string ContentType = "application/json; charset=utf-8";

    private static readonly JsonWriterOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping, SkipValidation = true };

    // Names as transcoding writes them: each field's proto3 JSON name.
    private static readonly JsonEncodedText Items = Name(RecommendResponse.Descriptor, RecommendResponse.ItemsFieldNumber);
    private static readonly JsonEncodedText Fallback = Name(RecommendResponse.Descriptor, RecommendResponse.FallbackFieldNumber);
    private static readonly JsonEncodedText ModelVersion = Name(RecommendResponse.Descriptor, RecommendResponse.ModelVersionFieldNumber);
    private static readonly JsonEncodedText Source = Name(RecommendResponse.Descriptor, RecommendResponse.SourceFieldNumber);
    private static readonly JsonEncodedText Degraded = Name(RecommendResponse.Descriptor, RecommendResponse.DegradedFieldNumber);
    private static readonly JsonEncodedText Id = Name(Item.Descriptor, Item.IdFieldNumber);
    private static readonly JsonEncodedText ItemName = Name(Item.Descriptor, Item.NameFieldNumber);
    private static readonly JsonEncodedText Score = Name(Item.Descriptor, Item.ScoreFieldNumber);
    private static readonly JsonEncodedText ArtistId = Name(Item.Descriptor, Item.ArtistIdFieldNumber);
    private static readonly JsonEncodedText ArtistName = Name(Item.Descriptor, Item.ArtistNameFieldNumber);
    private static readonly JsonEncodedText Reason = Name(Item.Descriptor, Item.ReasonFieldNumber);
    private static readonly JsonEncodedText ReasonArtistId = Name(Item.Descriptor, Item.ReasonArtistIdFieldNumber);

    // One buffer and writer per thread, reset per call: the response is copied out once, into the message's bytes.
    [ThreadStatic] private static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] private static Utf8JsonWriter? t_writer;

    /// <summary>The JSON of the response <see cref="RecommenderService"/> builds from <paramref name="list"/>.</summary>
    public static ByteString Write(ModelBundle bundle, RecommendationList list)
    {
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(4096);
        buffer.ResetWrittenCount();
        var json = t_writer ??= new Utf8JsonWriter(buffer, Options);
        json.Reset(buffer);

        json.WriteStartObject();
        json.WriteStartArray(Items);
        Span<byte> phrase = stackalloc byte[256];
        for (var i = 0; i < list.Count; i++)
        {
            var track = list.Tracks[i];
            var artist = bundle.Catalog.ArtistOf(track);
            json.WriteStartObject();
            json.WriteString(Id, bundle.Tracks.Utf8(track));
            json.WriteString(ItemName, bundle.Catalog.TitleUtf8(track));
            WriteFloat(json, Score, list.Scores[i]);
            json.WriteString(ArtistId, bundle.Artists.Utf8(artist));
            json.WriteString(ArtistName, bundle.Catalog.ArtistNameUtf8(artist));
            var because = list.ReasonArtists[i];
            if (because >= 0)
            {
                var length = RecommendationReasons.PhraseUtf8(bundle, because, phrase);
                if (length >= 0) json.WriteString(Reason, phrase[..length]);
                else json.WriteString(Reason, RecommendationReasons.NewPhrase(bundle, because)); // a name too long for the buffer
                json.WriteString(ReasonArtistId, bundle.Artists.Utf8(because));
            }
            else
            {
                json.WriteString(Reason, list.Fallback ? RecommendationReasons.PopularReason : "");
                json.WriteString(ReasonArtistId, ""u8);
            }
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.WriteBoolean(Fallback, list.Fallback);
        json.WriteString(ModelVersion, bundle.Version);
        json.WriteString(Source, list.Source);
        json.WriteBoolean(Degraded, list.Degraded);
        json.WriteEndObject();
        json.Flush();
        return ByteString.CopyFrom(buffer.WrittenSpan);
    }

    /// <summary>As System.Text.Json writes a float with named literals allowed: NaN and infinities as strings.</summary>
    private static void WriteFloat(Utf8JsonWriter json, JsonEncodedText name, float value)
    {
        if (float.IsFinite(value)) json.WriteNumber(name, value);
        else json.WriteString(name, float.IsNaN(value) ? "NaN" : value > 0 ? "Infinity" : "-Infinity");
    }

    private static JsonEncodedText Name(MessageDescriptor message, int field) =>
        JsonEncodedText.Encode(message.FindFieldByNumber(field).JsonName, JavaScriptEncoder.UnsafeRelaxedJsonEscaping);
}
