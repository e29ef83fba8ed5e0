using Microsoft.Extensions.Configuration;
using Serilog;
using Serilog.Configuration;
using Serilog.Events;

namespace RecService.Hosting;

/// <summary>
/// The services' Serilog setup, one for the replica and the worker: defaults first, so appsettings and
/// <c>Serilog__MinimumLevel__*</c> can override them, framework chatter only from warnings up, and one console line
/// per event with every logged value escaped (<see cref="LogEscaping"/>).
/// </summary>
public static class ServiceLogging
{
    public const string OutputTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {SourceContext}: {Message:lj}{NewLine}{Exception}";

    /// <param name="log">The configuration to fill.</param>
    /// <param name="configuration">The host's configuration (its "Serilog" section).</param>
    /// <param name="quietSources">Source prefixes logged from warnings up only (e.g. Microsoft.AspNetCore).</param>
    public static LoggerConfiguration ServiceDefaults(this LoggerConfiguration log, IConfiguration configuration, params string[] quietSources)
    {
        log.MinimumLevel.Information();
        foreach (var source in quietSources) log.MinimumLevel.Override(source, LogEventLevel.Warning);
        return log.ReadFrom.Configuration(configuration)
            .Enrich.FromLogContext()
            .WriteTo.Escaped(to => to.Console(outputTemplate: OutputTemplate));
    }

    /// <summary>Sinks that receive events with <see cref="LogEscaping"/> applied.</summary>
    public static LoggerConfiguration Escaped(this LoggerSinkConfiguration to, Action<LoggerSinkConfiguration> sinks) =>
        to.Sink(LoggerSinkConfiguration.Wrap(inner => new EscapingSink(inner), sinks));
}
