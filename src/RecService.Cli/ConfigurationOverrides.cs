using System.CommandLine;
using System.Globalization;

namespace RecService.Cli;

/// <summary>
/// Configuration overrides from command-line flags. Only flags actually given are added, so a service started
/// with no flags is configured entirely by appsettings and environment variables (Serving__X, Worker__X), as a
/// container expects; a flag's default never masks them.
/// </summary>
public sealed class ConfigurationOverrides(ParseResult parse)
{
    public Dictionary<string, string?> Settings { get; } = [];

    public ConfigurationOverrides Add<T>(Option<T> option, string key, Func<T, string>? map = null)
    {
        if (parse.GetResult(option) is { Implicit: false })
        {
            var value = parse.GetValue(option)!;
            Settings[key] = map is null ? Convert.ToString(value, CultureInfo.InvariantCulture) : map(value);
        }
        return this;
    }
}
