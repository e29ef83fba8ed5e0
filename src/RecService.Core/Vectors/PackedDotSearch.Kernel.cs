using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace RecService.Core.Vectors;

public sealed partial class PackedDotSearch
{
    /// <summary>
    /// One query panel against the item panels [<paramref name="firstPanel"/>, <paramref name="endPanel"/>): for each
    /// item panel, the <see cref="QueryRows"/> x <see cref="ItemLanes"/> tile of scores is accumulated in registers
    /// (per factor: two item loads, one broadcast and two fused multiply-adds per query row), then each row is compared
    /// with its query's current k-th best; only a row with a score reaching it leaves the registers, to the heap.
    /// Returns the panel it stopped at: <paramref name="endPanel"/>, or the first panel whose norm bound no query of
    /// the panel can reach (nor can any later one, their norms being smaller).
    /// </summary>
    private unsafe int ScanPanels(float[] packedQueries, double[] bounds, int panel, int firstPanel, int endPanel, ref Group group)
    {
        var dims = Dimensions;
        var tile = stackalloc float[QueryRows * ItemLanes];
        fixed (float* queryBase = packedQueries)
        fixed (float* itemBase = _panels)
        fixed (float* thresholdBase = group.Thresholds)
        {
            var rows = queryBase + (long)panel * dims * QueryRows;
            var threshold = thresholdBase + panel * QueryRows;
            var firstQuery = panel * QueryRows;
            var bound = bounds.AsSpan(firstQuery, QueryRows);
            for (var j = firstPanel; j < endPanel; j++)
            {
                if (Unreachable(bound, _panelNorms[j], threshold)) return j;
                var y = itemBase + (long)j * dims * ItemLanes;
                var x = rows;
                Vector256<float> a00 = default, a01 = default, a10 = default, a11 = default, a20 = default, a21 = default;
                Vector256<float> a30 = default, a31 = default, a40 = default, a41 = default, a50 = default, a51 = default;
                for (var c = 0; c < dims; c++, x += QueryRows, y += ItemLanes)
                {
                    var y0 = Vector256.Load(y);
                    var y1 = Vector256.Load(y + 8);
                    var b = Vector256.Create(x[0]);
                    a00 = Vector256.FusedMultiplyAdd(y0, b, a00);
                    a01 = Vector256.FusedMultiplyAdd(y1, b, a01);
                    b = Vector256.Create(x[1]);
                    a10 = Vector256.FusedMultiplyAdd(y0, b, a10);
                    a11 = Vector256.FusedMultiplyAdd(y1, b, a11);
                    b = Vector256.Create(x[2]);
                    a20 = Vector256.FusedMultiplyAdd(y0, b, a20);
                    a21 = Vector256.FusedMultiplyAdd(y1, b, a21);
                    b = Vector256.Create(x[3]);
                    a30 = Vector256.FusedMultiplyAdd(y0, b, a30);
                    a31 = Vector256.FusedMultiplyAdd(y1, b, a31);
                    b = Vector256.Create(x[4]);
                    a40 = Vector256.FusedMultiplyAdd(y0, b, a40);
                    a41 = Vector256.FusedMultiplyAdd(y1, b, a41);
                    b = Vector256.Create(x[5]);
                    a50 = Vector256.FusedMultiplyAdd(y0, b, a50);
                    a51 = Vector256.FusedMultiplyAdd(y1, b, a51);
                }
                var m0 = Above(a00, a01, threshold[0]);
                var m1 = Above(a10, a11, threshold[1]);
                var m2 = Above(a20, a21, threshold[2]);
                var m3 = Above(a30, a31, threshold[3]);
                var m4 = Above(a40, a41, threshold[4]);
                var m5 = Above(a50, a51, threshold[5]);
                if ((m0 | m1 | m2 | m3 | m4 | m5) == 0) continue; // the common case once the heaps are full

                a00.Store(tile); a01.Store(tile + 8);
                a10.Store(tile + 16); a11.Store(tile + 24);
                a20.Store(tile + 32); a21.Store(tile + 40);
                a30.Store(tile + 48); a31.Store(tile + 56);
                a40.Store(tile + 64); a41.Store(tile + 72);
                a50.Store(tile + 80); a51.Store(tile + 88);
                var items = new ReadOnlySpan<int>(_items, j * ItemLanes, ItemLanes);
                if (m0 != 0) group.Offer(firstQuery, m0, new ReadOnlySpan<float>(tile, ItemLanes), items);
                if (m1 != 0) group.Offer(firstQuery + 1, m1, new ReadOnlySpan<float>(tile + 16, ItemLanes), items);
                if (m2 != 0) group.Offer(firstQuery + 2, m2, new ReadOnlySpan<float>(tile + 32, ItemLanes), items);
                if (m3 != 0) group.Offer(firstQuery + 3, m3, new ReadOnlySpan<float>(tile + 48, ItemLanes), items);
                if (m4 != 0) group.Offer(firstQuery + 4, m4, new ReadOnlySpan<float>(tile + 64, ItemLanes), items);
                if (m5 != 0) group.Offer(firstQuery + 5, m5, new ReadOnlySpan<float>(tile + 80, ItemLanes), items);
            }
        }
        return endPanel;
    }

    /// <summary>True when no query of the panel can reach its k-th best with an item of norm at most
    /// <paramref name="itemNorm"/>: |x| |y| (both rounded up, the margin for rounding included) is below it. A heap
    /// not yet full (-inf) or a NaN keeps the panel going; the rows past the last query (+inf) never do.</summary>
    private static unsafe bool Unreachable(ReadOnlySpan<double> queryNorms, double itemNorm, float* thresholds)
    {
        for (var r = 0; r < QueryRows; r++)
            if (!(queryNorms[r] * itemNorm < thresholds[r])) return false;
        return true;
    }

    /// <summary>Bit j set when lane j of the row (low then high vector) reaches the threshold (an equal score may
    /// still win on a smaller id); NaN never does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Above(Vector256<float> low, Vector256<float> high, float threshold)
    {
        var t = Vector256.Create(threshold);
        return Vector256.GreaterThanOrEqual(low, t).ExtractMostSignificantBits() | (Vector256.GreaterThanOrEqual(high, t).ExtractMostSignificantBits() << 8);
    }
}
