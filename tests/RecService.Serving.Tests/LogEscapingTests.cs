using RecService.Hosting;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace RecService.Serving.Tests;

/// <summary>
/// <see cref="LogEscaping"/> over everything an event carries, rendered through the services' own output template:
/// properties at any depth, hand-built message text and exception messages (inner ones too).
/// </summary>
public sealed class LogEscapingTests
{
    private const string Forged = "[00:00:00 ERR] Forged";

    private sealed class Capture : ILogEventSink
    {
        public readonly List<string> Lines = [];
        private readonly MessageTemplateTextFormatter _format = new(ServiceLogging.OutputTemplate);

        public void Emit(LogEvent logEvent)
        {
            var text = new StringWriter();
            _format.Format(logEvent, text);
            Lines.AddRange(text.ToString().Split('\n'));
        }
    }

    private static List<string> Log(Action<ILogger> write)
    {
        var capture = new Capture();
        using (var logger = new LoggerConfiguration().WriteTo.Escaped(to => to.Sink(capture)).CreateLogger()) write(logger);
        return capture.Lines;
    }

    [Fact]
    public void Control_characters_in_any_logged_value_are_escaped_and_forge_no_line()
    {
        var evil = "x\n" + Forged + "\r\u001b[31m\u2028\u0085";
        var lines = Log(log =>
        {
            log.Information("user {User} plays {@Plays} tags {Tags}", evil, new { Track = evil, Count = 2 }, new[] { "ok", evil });
            log.Information("built by hand: " + evil);
            log.Information(new InvalidOperationException("outer " + evil, new IOException("inner " + evil)), "failed for {User}", "u1");
            log.Information(new AggregateException(new InvalidDataException("one " + evil), new InvalidDataException("two " + evil)), "several");
        });
        Assert.DoesNotContain(lines, l => l.StartsWith(Forged, StringComparison.Ordinal));
        Assert.All(lines, l => Assert.False(l.Any(c => char.IsControl(c) || c is '\u2028' or '\u2029'), $"a raw control character in: {l}"));
        var escaped = @"x\n" + Forged + @"\r\u001b[31m\u2028\u0085";
        var text = string.Join('\n', lines);
        foreach (var shown in new[] { "user " + escaped, "built by hand: " + escaped, "outer " + escaped, "inner " + escaped, "one " + escaped, "two " + escaped })
            Assert.Contains(shown, text, StringComparison.Ordinal);
        // Structured values render as JSON ({Message:lj}), which escapes the escape's backslash once more: still one line.
        Assert.Contains(lines, l => l.Contains(@"{""Track"":""x\\n[00:00:00 ERR] Forged", StringComparison.Ordinal) && l.Contains(@"[""ok"",""x\\n", StringComparison.Ordinal));
        // The stack trace keeps its own lines (it is code's text, not a value): the inner exception is still shown.
        Assert.Contains(lines, l => l.Contains("---> System.IO.IOException: inner " + escaped, StringComparison.Ordinal));
    }

    [Fact]
    public void Values_without_control_characters_are_passed_on_as_they_are()
    {
        var clean = new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Information, null, new Serilog.Parsing.MessageTemplateParser().Parse("user {User}"),
            [new LogEventProperty("User", new ScalarValue("plain id, tabs\tare not here"[..9])), new LogEventProperty("N", new ScalarValue(3))]);
        Assert.Same(clean, LogEscaping.Escape(clean));
        const string plain = "nothing to escape";
        Assert.Same(plain, LogEscaping.Escape(plain));
    }
}
