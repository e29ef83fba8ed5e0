namespace RecService.Ingest.Logs;

/// <summary>
/// Listening sessions cut from timestamped plays: each user's plays sorted by time (ties in the order read), a new
/// session where the gap to the previous play is more than <see cref="Gap"/>. Session <c>i</c> is user
/// <c>Users[i]</c>'s tracks <c>Tracks[Offsets[i]..Offsets[i + 1]]</c> in time order (dense indices of the play matrices).
/// </summary>
public sealed class Sessions
{
    internal Sessions(TimeSpan gap, long[] offsets, int[] tracks, int[] users)
    {
        Gap = gap;
        Offsets = offsets;
        Tracks = tracks;
        Users = users;
    }

    public TimeSpan Gap { get; }
    /// <summary><see cref="Count"/> + 1 entries, from 0 to the number of timestamped plays.</summary>
    public long[] Offsets { get; }
    public int[] Tracks { get; }
    public int[] Users { get; }
    public int Count => Users.Length;
    public ReadOnlySpan<int> this[int session] => Tracks.AsSpan((int)Offsets[session], (int)(Offsets[session + 1] - Offsets[session]));

    /// <summary>Cuts the plays (users, tracks, times: <paramref name="count"/> each) into sessions.</summary>
    internal static Sessions Cut(int userCount, int[] users, int[] tracks, long[] times, int count, TimeSpan gap)
    {
        var (_, order) = GroupedOrder.Sort(userCount, users, times, count);
        var gapSeconds = (long)gap.TotalSeconds;
        var offsets = new List<long> { 0 };
        var sessionUsers = new List<int>();
        var ordered = new int[count];
        for (var k = 0; k < count; k++)
        {
            var row = order[k];
            ordered[k] = tracks[row];
            if (k == 0) continue;
            var previous = order[k - 1];
            if (users[previous] != users[row] || times[row] - times[previous] > gapSeconds)
            {
                offsets.Add(k);
                sessionUsers.Add(users[previous]);
            }
        }
        if (count > 0)
        {
            offsets.Add(count);
            sessionUsers.Add(users[order[count - 1]]);
        }
        return new Sessions(gap, [.. offsets], ordered, [.. sessionUsers]);
    }
}
