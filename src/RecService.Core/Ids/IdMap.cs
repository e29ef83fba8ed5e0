namespace RecService.Core.Ids;

/// <summary>
/// Dense index for string ids: the first id seen gets 0, the next 1, and so on.
/// Lookups by <see cref="ReadOnlySpan{T}"/> of char go through the dictionary's alternate lookup,
/// so a reader can resolve an id straight from its line buffer without allocating a string.
/// </summary>
public sealed class IdMap
{
    private readonly Dictionary<string, int> _index;
    private readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _spanIndex;
    private readonly List<string> _ids;

    public IdMap(int capacity = 0)
    {
        _index = new Dictionary<string, int>(capacity, StringComparer.Ordinal);
        _spanIndex = _index.GetAlternateLookup<ReadOnlySpan<char>>();
        _ids = new List<string>(capacity);
    }

    public IdMap(IEnumerable<string> ids) : this()
    {
        foreach (var id in ids)
        {
            if (!TryAdd(id, out _)) throw new ArgumentException($"Duplicate id '{id}'.", nameof(ids));
        }
    }

    public int Count => _ids.Count;
    public IReadOnlyList<string> Ids => _ids;
    public string this[int index] => _ids[index];

    public int GetOrAdd(ReadOnlySpan<char> id)
    {
        if (_spanIndex.TryGetValue(id, out var index)) return index;
        var s = id.ToString();
        index = _ids.Count;
        _index.Add(s, index);
        _ids.Add(s);
        return index;
    }

    public bool TryAdd(string id, out int index)
    {
        if (_index.TryGetValue(id, out index)) return false;
        index = _ids.Count;
        _index.Add(id, index);
        _ids.Add(id);
        return true;
    }

    public bool TryGet(ReadOnlySpan<char> id, out int index) => _spanIndex.TryGetValue(id, out index);
    public bool TryGet(string id, out int index) => _index.TryGetValue(id, out index);
}
