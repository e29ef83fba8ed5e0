using System.Globalization;
using System.IO.Hashing;
using System.Text;
using System.Text.RegularExpressions;

namespace RecService.Core.Bundle;

/// <summary>
/// Who made a staging directory or a <c>CURRENT</c> temp file, written into its name (<c>-p&lt;pid&gt;s&lt;start&gt;n&lt;namespace&gt;</c>)
/// so that it is there from the instant the entry exists: the process id, its start time (so a reused pid is not taken
/// for the publisher) and a hash of the host name, boot id and pid namespace (a pid means something only there). The
/// next publisher on the same host and namespace removes a dead publisher's leftovers at once; others wait for the age rule.
/// </summary>
internal static partial class PublisherTag
{
    private static readonly string Namespace = ComputeNamespace();

    /// <summary>This process's tag.</summary>
    public static string Own { get; } = $"p{Environment.ProcessId}s{StartTime(Environment.ProcessId) ?? 0}n{Namespace}";

    /// <summary>True when the entry named <paramref name="name"/> (its tag at the end) belongs to a publisher that is gone:
    /// checked through /proc when the tag is from this host and namespace, else by age (written before <paramref name="stale"/>).</summary>
    public static bool IsAbandoned(string name, DateTime lastWriteUtc, DateTime stale)
    {
        var match = Tag().Match(name);
        if (!match.Success || match.Groups[3].Value != Namespace || !OperatingSystem.IsLinux()) return lastWriteUtc < stale;
        var pid = int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture);
        var start = ulong.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
        return StartTime(pid) != start; // gone (null), or the pid now belongs to a later process
    }

    /// <summary>A process's start time in clock ticks since boot (/proc/&lt;pid&gt;/stat field 22); null when there is none.</summary>
    private static ulong? StartTime(int pid)
    {
        if (!OperatingSystem.IsLinux()) return null;
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields.Length > 19 && ulong.TryParse(fields[19], CultureInfo.InvariantCulture, out var ticks) ? ticks : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string ComputeNamespace()
    {
        string Read(Func<string?> read)
        {
            try { return read() ?? ""; }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return ""; }
        }
        var identity = string.Join('\n', Environment.MachineName,
            Read(() => OperatingSystem.IsLinux() ? File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim() : null),
            Read(() => OperatingSystem.IsLinux() ? new FileInfo("/proc/self/ns/pid").LinkTarget : null));
        return (XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(identity)) & 0xFFFFFFFF).ToString("x8", CultureInfo.InvariantCulture);
    }

    [GeneratedRegex(@"-p(\d{1,10})s(\d{1,20})n([0-9a-f]{8})$")]
    private static partial Regex Tag();
}
