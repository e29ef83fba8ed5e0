using RecService.Core.Text;
using System.Buffers;
using System.Text;
using Serilog.Core;
using Serilog.Events;
using Serilog.Parsing;

namespace RecService.Hosting;

/// <summary>
/// Control characters never reach the log raw: in every logged value (message template, properties at any depth,
/// exception messages) C0 and C1 controls, DEL and the Unicode line and paragraph separators are written as escapes
/// (<c>\n</c>, <c>\r</c>, <c>\t</c>, <c>\u001b</c>), so a value holding a newline cannot forge a log line and one
/// holding ESC cannot drive the terminal. A value without them is passed on as it is, without allocating.
/// </summary>
public static class LogEscaping
{
    public static bool NeedsEscaping(string value) => ControlCharacters.Any(value);

    /// <summary><paramref name="value"/> with its control characters escaped (the same instance when it has none).</summary>
    public static string Escape(string value) => ControlCharacters.Escape(value);

    /// <summary><paramref name="value"/> with every string in it escaped; the same instance when nothing needed it.</summary>
    public static LogEventPropertyValue Escape(LogEventPropertyValue value)
    {
        switch (value)
        {
            case ScalarValue { Value: string s }:
                return NeedsEscaping(s) ? new ScalarValue(Escape(s)) : value;
            case ScalarValue { Value: char c }:
                return ControlCharacters.IsControl(c) ? new ScalarValue(Escape(c.ToString())) : value;
            case ScalarValue { Value: null or bool or byte or sbyte or short or ushort or int or uint or long or ulong or float or double or decimal
                or DateTime or DateTimeOffset or TimeSpan or Guid or Enum }:
                return value;
            case ScalarValue scalar:
                // Rendered through ToString (a path, a URI): escaped as that text when it needs it.
                return scalar.Value?.ToString() is { } shown && NeedsEscaping(shown) ? new ScalarValue(Escape(shown)) : value;
            case SequenceValue sequence:
                var elements = EscapeAll(sequence.Elements);
                return elements is null ? value : new SequenceValue(elements);
            case StructureValue structure:
                LogEventProperty[]? properties = null;
                for (var i = 0; i < structure.Properties.Count; i++)
                {
                    var p = structure.Properties[i];
                    var escaped = Escape(p.Value);
                    if (ReferenceEquals(escaped, p.Value) && !NeedsEscaping(p.Name)) continue;
                    properties ??= [.. structure.Properties];
                    properties[i] = new LogEventProperty(Escape(p.Name), escaped);
                }
                return properties is null && (structure.TypeTag is null || !NeedsEscaping(structure.TypeTag))
                    ? value
                    : new StructureValue(properties ?? structure.Properties, structure.TypeTag is null ? null : Escape(structure.TypeTag));
            case DictionaryValue dictionary:
                var changed = false;
                var entries = dictionary.Elements.Select(e =>
                {
                    var (k, v) = ((ScalarValue)Escape(e.Key), Escape(e.Value));
                    changed |= !ReferenceEquals(k, e.Key) || !ReferenceEquals(v, e.Value);
                    return new KeyValuePair<ScalarValue, LogEventPropertyValue>(k, v);
                }).ToList();
                return changed ? new DictionaryValue(entries) : value;
            default:
                return value;
        }
    }

    private static LogEventPropertyValue[]? EscapeAll(IReadOnlyList<LogEventPropertyValue> values)
    {
        LogEventPropertyValue[]? escaped = null;
        for (var i = 0; i < values.Count; i++)
        {
            var e = Escape(values[i]);
            if (ReferenceEquals(e, values[i])) continue;
            escaped ??= [.. values];
            escaped[i] = e;
        }
        return escaped;
    }

    /// <summary>The event with every value escaped; the same instance when nothing needed it.</summary>
    public static LogEvent Escape(LogEvent logEvent)
    {
        List<LogEventProperty>? properties = null;
        foreach (var (name, value) in logEvent.Properties)
        {
            var escaped = Escape(value);
            if (ReferenceEquals(escaped, value)) continue;
            properties ??= [];
            properties.Add(new LogEventProperty(name, escaped));
        }
        var template = logEvent.MessageTemplate;
        // Template text is code's own, except where a message was built by hand (interpolated) before logging.
        var retemplate = NeedsEscaping(template.Text);
        var exception = logEvent.Exception is { } ex && NeedsEscaping(ex) ? new EscapedException(ex) : logEvent.Exception;
        if (properties is null && !retemplate && ReferenceEquals(exception, logEvent.Exception)) return logEvent;
        if (retemplate) template = new MessageTemplateParser().Parse(Escape(template.Text));
        var all = properties is null
            ? logEvent.Properties.Select(p => new LogEventProperty(p.Key, p.Value))
            : logEvent.Properties.Select(p => properties.Find(e => e.Name == p.Key) ?? new LogEventProperty(p.Key, p.Value));
        return new LogEvent(logEvent.Timestamp, logEvent.Level, exception, template, all, logEvent.TraceId ?? default, logEvent.SpanId ?? default);
    }

    private static IEnumerable<Exception> Chain(Exception ex)
    {
        yield return ex;
        var inner = ex is AggregateException aggregate ? aggregate.InnerExceptions : ex.InnerException is { } one ? [one] : [];
        foreach (var e in inner)
            foreach (var nested in Chain(e)) yield return nested;
    }

    private static bool NeedsEscaping(Exception ex) => Chain(ex).Any(e => NeedsEscaping(e.Message));

    /// <summary>
    /// An exception as logged: its text is the original's, with each message in the chain escaped (a message cannot
    /// start a line of its own) and the stack trace's own line breaks kept.
    /// </summary>
    private sealed class EscapedException(Exception original) : Exception(Escape(original.Message))
    {
        private readonly string _text = ControlCharacters.Escape(
            Chain(original).Select(e => e.Message).Where(NeedsEscaping).Distinct().OrderByDescending(m => m.Length)
                .Aggregate(original.ToString(), (text, message) => text.Replace(message, Escape(message), StringComparison.Ordinal)),
            keepNewlines: true);

        public override string ToString() => _text;
    }
}

/// <summary>A sink that passes every event on with <see cref="LogEscaping"/> applied.</summary>
public sealed class EscapingSink(ILogEventSink inner) : ILogEventSink, IDisposable
{
    public void Emit(LogEvent logEvent) => inner.Emit(LogEscaping.Escape(logEvent));

    public void Dispose() => (inner as IDisposable)?.Dispose();
}
