using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace RecService.Hosting;

/// <summary>Health endpoints' body: the overall status on the first line (what probes and people grep), then each
/// check that is not healthy with its reason, e.g. "model: no model loaded: models directory /models does not exist".</summary>
public static class HealthText
{
    public static Task WriteAsync(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        var text = report.Status.ToString();
        foreach (var (name, entry) in report.Entries)
            if (entry.Status != HealthStatus.Healthy) text += $"\n{name}: {LogEscaping.Escape(entry.Description ?? entry.Status.ToString())}";
        return context.Response.WriteAsync(text);
    }
}
