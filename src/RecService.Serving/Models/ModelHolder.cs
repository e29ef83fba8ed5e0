using RecService.Core.Bundle;

namespace RecService.Serving.Models;

/// <summary>A request's hold on one bundle: the bundle stays mapped until the lease is disposed.</summary>
public readonly struct BundleLease(ModelBundle bundle) : IDisposable
{
    public ModelBundle Bundle => bundle;
    public void Dispose() => bundle.Release();
}

/// <summary>
/// The bundle being served. Swapping publishes the new bundle with one atomic exchange and drops the holder's
/// reference to the old one; requests that leased the old bundle finish on it, and the last of them unmaps it.
/// </summary>
public sealed class ModelHolder : IDisposable
{
    private ModelBundle? _current;

    public ModelBundle? Current => Volatile.Read(ref _current);

    public bool TryLease(out BundleLease lease)
    {
        while (true)
        {
            var bundle = Volatile.Read(ref _current);
            if (bundle is null)
            {
                lease = default;
                return false;
            }
            // Fails only if this bundle was swapped out and fully released in between: read the new one.
            if (bundle.TryAcquire())
            {
                lease = new BundleLease(bundle);
                return true;
            }
        }
    }

    public void Swap(ModelBundle next)
    {
        var old = Interlocked.Exchange(ref _current, next);
        old?.Release();
    }

    /// <summary>Stops serving: requests answer "no model" until the next swap; leases already taken finish.</summary>
    public void Clear()
    {
        var old = Interlocked.Exchange(ref _current, null);
        old?.Release();
    }

    public void Dispose() => Clear();
}
