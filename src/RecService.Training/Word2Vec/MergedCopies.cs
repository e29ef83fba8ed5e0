using System.Runtime.Intrinsics;

namespace RecService.Training.Word2Vec;

/// <summary>
/// Per-thread copies of one shared float matrix for lock-free SGD. Threads that write the same popular rows of one
/// matrix spend most of their time passing cache lines between cores; each thread here writes its own copy and now
/// and then merges: what it changed since its last merge is added to the shared matrix, and the result becomes its
/// copy. Merges of several threads may overlap: as everywhere in Hogwild, a rare lost update is accepted.
/// </summary>
internal sealed class MergedCopies
{
    private readonly float[] _shared;
    private readonly float[][] _copies;
    // What the shared matrix was at each copy's last merge.
    private readonly float[][] _merged;

    /// <summary>Copies start as the shared matrix is now.</summary>
    public MergedCopies(float[] shared, int copies)
    {
        _shared = shared;
        _copies = [.. Enumerable.Range(0, copies).Select(_ => (float[])shared.Clone())];
        _merged = [.. Enumerable.Range(0, copies).Select(_ => (float[])shared.Clone())];
    }

    public float[] Copy(int part) => _copies[part];

    public void Merge(int part)
    {
        var shared = _shared.AsSpan();
        var local = _copies[part].AsSpan();
        var merged = _merged[part].AsSpan();
        var i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i <= shared.Length - Vector256<float>.Count; i += Vector256<float>.Count)
            {
                var now = Vector256.Create(shared.Slice(i, Vector256<float>.Count))
                    + (Vector256.Create(local.Slice(i, Vector256<float>.Count)) - Vector256.Create(merged.Slice(i, Vector256<float>.Count)));
                now.CopyTo(shared.Slice(i, Vector256<float>.Count));
                now.CopyTo(local.Slice(i, Vector256<float>.Count));
                now.CopyTo(merged.Slice(i, Vector256<float>.Count));
            }
        for (; i < shared.Length; i++)
        {
            var now = shared[i] + (local[i] - merged[i]);
            shared[i] = now;
            local[i] = now;
            merged[i] = now;
        }
    }
}
