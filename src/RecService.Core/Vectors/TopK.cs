using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecService.Core.Vectors;

/// <summary>
/// Keeps the <c>capacity</c> best (score, id) pairs seen, in caller-owned spans, as a binary min-heap whose root is the
/// worst kept pair, so rejecting a candidate costs one compare. Ties on score prefer the smaller id, which makes
/// results independent of the order candidates arrive in.
/// </summary>
public ref struct TopK
{
    private readonly Span<float> _scores;
    private readonly Span<int> _ids;
    private int _count;

    public TopK(Span<float> scores, Span<int> ids)
    {
        if (ids.Length < scores.Length) throw new ArgumentException("ids must be at least as long as scores.");
        _scores = scores;
        _ids = ids[..scores.Length];
        _count = 0;
    }

    /// <summary>Resumes the heap an earlier <see cref="TopK"/> left in these spans holding <paramref name="count"/>
    /// pairs (its <see cref="Count"/>): lets a caller keep many heaps in arrays between offers.</summary>
    public TopK(Span<float> scores, Span<int> ids, int count) : this(scores, ids)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, scores.Length);
        _count = count;
    }

    public readonly int Count => _count;
    public readonly int Capacity => _scores.Length;
    public readonly bool IsFull => _count == _scores.Length;

    /// <summary>The score a candidate must beat to enter once the heap is full (-inf before).</summary>
    public readonly float Threshold => _count == _scores.Length && _count > 0 ? _scores[0] : float.NegativeInfinity;

    public void Clear() => _count = 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Worse(float s1, int id1, float s2, int id2) => s1 < s2 || (s1 == s2 && id1 > id2);

    /// <summary>Offers a candidate; returns true if it was kept.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Add(float score, int id)
    {
        if (_count < _scores.Length)
        {
            int i = _count++;
            // Sift up.
            while (i > 0)
            {
                int parent = (i - 1) >> 1;
                if (!Worse(score, id, _scores[parent], _ids[parent])) break;
                _scores[i] = _scores[parent];
                _ids[i] = _ids[parent];
                i = parent;
            }
            _scores[i] = score;
            _ids[i] = id;
            return true;
        }
        if (_count == 0 || !Worse(_scores[0], _ids[0], score, id)) return false;
        SiftDownFromRoot(score, id, _count);
        return true;
    }

    private readonly void SiftDownFromRoot(float score, int id, int count)
    {
        // Indices stay below count <= the spans' length: unchecked reads, as this runs once per kept candidate.
        ref var scores = ref MemoryMarshal.GetReference(_scores);
        ref var ids = ref MemoryMarshal.GetReference(_ids);
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= count) break;
            var childScore = Unsafe.Add(ref scores, child);
            var childId = Unsafe.Add(ref ids, child);
            if (child + 1 < count)
            {
                var rightScore = Unsafe.Add(ref scores, child + 1);
                var rightId = Unsafe.Add(ref ids, child + 1);
                if (Worse(rightScore, rightId, childScore, childId))
                {
                    child++;
                    childScore = rightScore;
                    childId = rightId;
                }
            }
            if (!Worse(childScore, childId, score, id)) break;
            Unsafe.Add(ref scores, i) = childScore;
            Unsafe.Add(ref ids, i) = childId;
            i = child;
        }
        Unsafe.Add(ref scores, i) = score;
        Unsafe.Add(ref ids, i) = id;
    }

    /// <summary>
    /// Sorts the kept pairs best first in place (heap sort: repeatedly move the worst to the end) and returns how many.
    /// <see cref="Ids"/> and <see cref="Scores"/> then read best first; call <see cref="Clear"/> before adding again.
    /// </summary>
    public int SortDescending()
    {
        int n = _count;
        for (int end = n - 1; end > 0; end--)
        {
            float s = _scores[end];
            int id = _ids[end];
            _scores[end] = _scores[0];
            _ids[end] = _ids[0];
            SiftDownFromRoot(s, id, end);
        }
        return n;
    }

    public readonly ReadOnlySpan<int> Ids => _ids[.._count];
    public readonly ReadOnlySpan<float> Scores => _scores[.._count];
}
