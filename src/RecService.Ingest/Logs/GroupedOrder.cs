namespace RecService.Ingest.Logs;

/// <summary>
/// Orders rows by group (a dense index: a user, a playlist) and within a group by a key (a time, a position), ties in
/// arrival order: a counting sort by group, then a sort of each group's slice unless it is already in order (logs
/// mostly arrive so). Sessions and playlists are both built by it.
/// </summary>
internal static class GroupedOrder
{
    /// <summary>The rows [0, <paramref name="count"/>) in order, and where each group starts in it (<paramref name="groups"/> + 1 entries).</summary>
    public static (long[] Starts, int[] Order) Sort(int groups, int[] group, long[] key, int count)
    {
        var starts = new long[groups + 1];
        for (var i = 0; i < count; i++) starts[group[i] + 1]++;
        for (var g = 0; g < groups; g++) starts[g + 1] += starts[g];
        var next = new long[groups];
        Array.Copy(starts, next, groups);
        var order = new int[count];
        for (var i = 0; i < count; i++) order[next[group[i]]++] = i;
        Comparison<int> byKey = (a, b) => key[a] != key[b] ? key[a].CompareTo(key[b]) : a.CompareTo(b);
        for (var g = 0; g < groups; g++)
        {
            var slice = order.AsSpan((int)starts[g], (int)(starts[g + 1] - starts[g]));
            if (!InOrder(slice, key)) slice.Sort(byKey);
        }
        return (starts, order);
    }

    private static bool InOrder(ReadOnlySpan<int> slice, long[] key)
    {
        for (var i = 1; i < slice.Length; i++)
            if (key[slice[i]] < key[slice[i - 1]]) return false;
        return true;
    }
}
