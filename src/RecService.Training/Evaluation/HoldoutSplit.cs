using RecService.Core.Sampling;
using RecService.Core.Ids;
using RecService.Core.Sparse;
using RecService.Training.Als;

namespace RecService.Training.Evaluation;

/// <summary>A train matrix and a test matrix of the same shape with no (user, item) pair in both.</summary>
public sealed record Holdout(CsrMatrix Train, CsrMatrix Test)
{
    /// <summary>Test pairs dropped because their user or item never occurs in the train data (cannot be scored).</summary>
    public long DroppedUnknown { get; init; }

    /// <summary>Test pairs dropped because the user already played the item in train (never recommended again).</summary>
    public long DroppedSeen { get; init; }
}

/// <summary>Ways to hold out interactions for offline evaluation.</summary>
public static class HoldoutSplit
{
    /// <summary>
    /// Each (user, item) pair goes to test with probability <paramref name="testFraction"/>, decided by a hash of
    /// (seed, user, item): the split is reproducible and does not depend on the order the pairs were read in.
    /// </summary>
    public static Holdout Random(CsrMatrix all, double testFraction, ulong seed)
    {
        if (testFraction is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(testFraction), testFraction, "Must be in [0, 1].");
        var threshold = (ulong)(testFraction * (1UL << 53));
        var trainPointers = new int[all.Rows + 1];
        var testPointers = new int[all.Rows + 1];
        var trainIndices = new List<int>(all.NonZeros);
        var trainValues = new List<float>(all.NonZeros);
        var testIndices = new List<int>((int)(all.NonZeros * testFraction) + 16);
        var testValues = new List<float>(testIndices.Capacity);
        var salt = SplitMix64.Mix(seed);
        for (var r = 0; r < all.Rows; r++)
        {
            var cols = all.RowIndices(r);
            var vals = all.RowValues(r);
            for (var k = 0; k < cols.Length; k++)
            {
                var draw = SplitMix64.Mix(salt ^ SplitMix64.Mix(((ulong)(uint)r << 32) | (uint)cols[k])) >> 11;
                var (indices, values) = draw < threshold ? (testIndices, testValues) : (trainIndices, trainValues);
                indices.Add(cols[k]);
                values.Add(vals[k]);
            }
            trainPointers[r + 1] = trainIndices.Count;
            testPointers[r + 1] = testIndices.Count;
        }
        return new Holdout(
            new CsrMatrix(all.Rows, all.Columns, trainPointers, [.. trainIndices], [.. trainValues]),
            new CsrMatrix(all.Rows, all.Columns, testPointers, [.. testIndices], [.. testValues]));
    }

    /// <summary>
    /// Maps a test matrix read with its own id maps (a later snapshot, or a separate file) into the train matrix's
    /// index space. Pairs whose user or item is unknown to train, and pairs the user already has in train, are
    /// dropped and counted: a time split then measures what a user plays next that they had not played before.
    /// </summary>
    public static Holdout Align(CsrMatrix train, IdMap trainUsers, IdMap trainItems, CsrMatrix test, IdMap testUsers, IdMap testItems)
    {
        var itemMap = new int[testItems.Count];
        for (var i = 0; i < itemMap.Length; i++) itemMap[i] = trainItems.TryGet(testItems[i], out var j) ? j : -1;
        var userMap = new int[testUsers.Count];
        for (var u = 0; u < userMap.Length; u++) userMap[u] = trainUsers.TryGet(testUsers[u], out var v) ? v : -1;

        var rowIds = new List<int>(test.NonZeros);
        var colIds = new List<int>(test.NonZeros);
        var values = new List<float>(test.NonZeros);
        long unknown = 0, seen = 0;
        for (var r = 0; r < test.Rows; r++)
        {
            var cols = test.RowIndices(r);
            var vals = test.RowValues(r);
            for (var k = 0; k < cols.Length; k++)
            {
                var user = userMap[r];
                var item = itemMap[cols[k]];
                if (user < 0 || item < 0) { unknown++; continue; }
                if (train.Get(user, item) != 0) { seen++; continue; }
                rowIds.Add(user);
                colIds.Add(item);
                values.Add(vals[k]);
            }
        }
        var aligned = CsrMatrix.FromTriples(train.Rows, train.Columns, rowIds.ToArray(), colIds.ToArray(), values.ToArray());
        return new Holdout(train, aligned) { DroppedUnknown = unknown, DroppedSeen = seen };
    }
}
