namespace RecService.Ingest.Files;

/// <summary>
/// Waits for a read that may block in the kernel (a stalled disk or network file system: such a read cannot be
/// interrupted), returning at once when <c>ct</c> is cancelled. The read is then abandoned: it ends when the kernel
/// returns, and its failure, if any, is observed here so it is not reported as unobserved.
/// </summary>
internal static class AbandonableReads
{
    public static async Task WaitAsync(Task reading, CancellationToken ct)
    {
        try
        {
            await reading.WaitAsync(ct);
        }
        catch (OperationCanceledException) when (!reading.IsCompleted)
        {
            _ = reading.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
            throw;
        }
    }
}
