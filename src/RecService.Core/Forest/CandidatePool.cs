using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>
/// The best (code score, slot) pairs a search has seen, kept for the exact re-rank: the same set a <see cref="TopK"/>
/// of that capacity keeps (ties on score prefer the smaller slot), found differently. Up to <see cref="MaxPooled"/>
/// entries sit unordered in one array and the worst is found again after each entry with vector compares: a search
/// admits a hundred or more candidates, and a heap's sift-down branches on data at every level, which mispredicts
/// (11% of an in-process Recommend at 1M x 64). Larger capacities (top-k above 32) keep the heap.
/// </summary>
internal unsafe ref struct CandidatePool
{
    /// <summary>Above this the linear rescan of the pool costs more than a heap's log-depth sift.</summary>
    public const int MaxPooled = 64;

    private readonly float* _scores; // capacity rounded up to 8; the padding holds +inf so it is never the worst
    private readonly int* _slots;
    private readonly int _capacity;
    private readonly int _padded;
    private TopK _heap;
    private readonly bool _pooled;
    private int _count;
    private int _worst;
    private float _threshold;

    /// <param name="scores">At least <see cref="PaddedLength"/>(capacity) floats.</param>
    /// <param name="slots">At least capacity ints.</param>
    public CandidatePool(float* scores, int* slots, int capacity)
    {
        _scores = scores;
        _slots = slots;
        _capacity = capacity;
        _padded = PaddedLength(capacity);
        _pooled = capacity <= MaxPooled && Vector256.IsHardwareAccelerated;
        _heap = _pooled ? default : new TopK(new Span<float>(scores, capacity), new Span<int>(slots, capacity));
        _count = 0;
        _worst = 0;
        _threshold = float.NegativeInfinity;
        if (_pooled) new Span<float>(scores + capacity, _padded - capacity).Fill(float.PositiveInfinity);
    }

    public static int PaddedLength(int capacity) => VectorMath.RoundUp(capacity, 8);

    public readonly int Count => _pooled ? _count : _heap.Count;
    public readonly bool IsFull => _pooled ? _count == _capacity : _heap.IsFull;

    /// <summary>The score a candidate must beat once full (-inf before): callers offer only scores above it.</summary>
    public readonly float Threshold => _pooled ? _threshold : _heap.Threshold;

    /// <summary>Offers a candidate whose score is above <see cref="Threshold"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(float score, int slot)
    {
        if (!_pooled)
        {
            _heap.Add(score, slot);
            return;
        }
        if (_count < _capacity)
        {
            _scores[_count] = score;
            _slots[_count++] = slot;
            if (_count == _capacity) FindWorst();
            return;
        }
        if (score < _threshold || (score == _threshold && slot > _slots[_worst])) return;
        _scores[_worst] = score;
        _slots[_worst] = slot;
        FindWorst();
    }

    /// <summary>The kept slots, in no particular order.</summary>
    public readonly ReadOnlySpan<int> Slots => _pooled ? new ReadOnlySpan<int>(_slots, _count) : _heap.Ids;

    private void FindWorst()
    {
        var min = Vector256.Load(_scores);
        for (int i = 8; i < _padded; i += 8) min = Vector256.Min(min, Vector256.Load(_scores + i));
        var half = Vector128.Min(min.GetLower(), min.GetUpper());
        half = Vector128.Min(half, Vector128.Shuffle(half, Vector128.Create(2, 3, 0, 1)));
        half = Vector128.Min(half, Vector128.Shuffle(half, Vector128.Create(1, 0, 3, 2)));
        float worst = half.ToScalar();
        var cut = Vector256.Create(worst);
        ulong ties = 0;
        for (int i = 0; i < _padded; i += 8) ties |= (ulong)Vector256.Equals(Vector256.Load(_scores + i), cut).ExtractMostSignificantBits() << i;
        int at = BitOperations.TrailingZeroCount(ties);
        // Equal worst scores (rare): the larger slot is the worse one, as in TopK.
        for (ties &= ties - 1; ties != 0; ties &= ties - 1)
        {
            int j = BitOperations.TrailingZeroCount(ties);
            if (_slots[j] > _slots[at]) at = j;
        }
        _worst = at;
        _threshold = worst;
    }
}
