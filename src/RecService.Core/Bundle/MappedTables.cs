using System.IO.Hashing;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;
using System.Text;

namespace RecService.Core.Bundle;

/// <summary>
/// Strings stored as int64 offsets (count + 1) into a UTF-8 blob. Offsets are checked on each access rather
/// than all at open, so opening stays O(1) and a corrupt entry fails only the request that touches it.
/// </summary>
internal readonly unsafe struct MappedStrings
{
    private readonly long* _offsets;
    private readonly byte* _blob;
    private readonly long _blobLength;
    private readonly string _path;
    private readonly DecodedStrings _decoded;

    public MappedStrings(SectionFile file, string offsetsTag, string blobTag)
    {
        _offsets = file.Pointer<long>(offsetsTag, out var offsets);
        _blob = file.Pointer<byte>(blobTag, out _blobLength);
        if (offsets < 1) throw new InvalidDataException($"{file.Path}: section '{offsetsTag}' is empty.");
        Count = checked((int)(offsets - 1));
        _path = file.Path;
        _decoded = new DecodedStrings(Count);
    }

    public int Count { get; }

    public ReadOnlySpan<byte> Utf8(int index)
    {
        if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
        long start = _offsets[index], end = _offsets[index + 1];
        if (start < 0 || end < start || end > _blobLength || end - start > int.MaxValue)
            throw new InvalidDataException($"{_path}: string {index} has offsets [{start}, {end}) outside the blob.");
        return new ReadOnlySpan<byte>(_blob + start, (int)(end - start));
    }

    /// <summary>Starts loading string <paramref name="index"/> (its bytes and its cache slot) without waiting: a response
    /// names several scattered tracks, and asking for all of them first lets their cache misses overlap.</summary>
    public void Prefetch(int index)
    {
        if (!Sse.IsSupported || (uint)index >= (uint)Count) return;
        long start = _offsets[index], end = _offsets[index + 1];
        _decoded.Prefetch(index);
        if (start < 0 || end <= start || end > _blobLength) return; // the read reports a damaged entry
        Sse.Prefetch0(_blob + start);
        Sse.Prefetch0(_blob + end - 1); // the same line unless the string straddles two
    }

    /// <summary>String <paramref name="index"/>, decoded once while it stays in the bounded cache (hot ids and names
    /// are asked for on every response).</summary>
    public string this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index));
            return _decoded.TryGet(index) ?? _decoded.Add(index, Encoding.UTF8.GetString(Utf8(index)));
        }
    }

    /// <summary>String <paramref name="index"/> decoded afresh and not cached: for bulk reads whose strings are kept
    /// elsewhere or dropped at once (a station's 250 ids), which would only evict the hot ids, and whose entries, written
    /// into a long-lived table, would make every one of those strings survive its first collection.</summary>
    public string Decode(int index) => Encoding.UTF8.GetString(Utf8(index));
}

/// <summary>
/// A bounded cache of decoded strings by index, direct-mapped (index modulo a power of two, at most 65,536 entries).
/// Each entry is an immutable (index, string) object published by one reference write, so a reader never sees a
/// torn pair and no lock is taken; a racing writer merely replaces an equal string. The slot table (512 KB at most)
/// is allocated on first use, so tables that are never turned into strings cost nothing; a table in use keeps at
/// most 65,536 decoded strings alive (a few MB of typical ids and titles) for as long as its bundle is mapped.
/// </summary>
internal sealed class DecodedStrings(int count, int maxEntries = DecodedStrings.MaxEntries)
{
    public const int MaxEntries = 1 << 16;
    private readonly int _size = (int)Math.Min(System.Numerics.BitOperations.RoundUpToPowerOf2((uint)Math.Max(count, 1)), (uint)maxEntries);
    private Entry?[]? _entries;

    private sealed class Entry(int index, string value)
    {
        public readonly int Index = index;
        public readonly string Value = value;
    }

    public string? TryGet(int index)
    {
        var entries = Volatile.Read(ref _entries);
        return entries?[index & (_size - 1)] is { } e && e.Index == index ? e.Value : null;
    }

    public unsafe void Prefetch(int index)
    {
        if (Volatile.Read(ref _entries) is not { } entries) return;
        // A lookup reads the slot, then the entry object it points to somewhere in the heap: two misses in a row. The slot
        // is read here (its miss overlaps the other items' prefetches) so that the entry can load ahead too; both hints
        // are harmless if the object moves meanwhile.
        if (entries[index & (_size - 1)] is not { } entry) return;
        var at = (byte*)Unsafe.As<Entry, nint>(ref entry);
        Sse.Prefetch0(at);
        Sse.Prefetch0(at + sizeof(nint) + sizeof(nint) + sizeof(int) - 1); // the fields' last byte: an entry may straddle two lines
    }

    public string Add(int index, string value)
    {
        var entries = Volatile.Read(ref _entries) ?? Interlocked.CompareExchange(ref _entries, new Entry?[_size], null) ?? Volatile.Read(ref _entries)!;
        Volatile.Write(ref entries[index & (_size - 1)], new Entry(index, value));
        return value;
    }
}

/// <summary>
/// A string id -> dense index map read straight from the mapped file: the ids (as <see cref="MappedStrings"/>)
/// plus an open-addressing hash table of int32 slots (power-of-two size, at most half full, -1 = empty) keyed by
/// XxHash3 of the UTF-8 id. A lookup hashes, probes, and compares bytes: no dictionary is built at load.
/// </summary>
public sealed unsafe class MappedIdMap
{
    public const string Kind = "IDMP";
    private const int MaxIdBytes = 1024;
    private readonly MappedStrings _ids;
    private readonly int* _slots;
    private readonly int _mask;

    internal MappedIdMap(SectionFile file)
    {
        _ids = new MappedStrings(file, "OFFS", "BLOB");
        _slots = file.Pointer<int>("HASH", out var slots);
        if (slots < 2 || (slots & (slots - 1)) != 0 || slots > int.MaxValue || slots < 2L * Count)
            throw new InvalidDataException($"{file.Path}: hash table of {slots} slots is not a power of two at least twice the {Count} ids.");
        _mask = (int)slots - 1;
    }

    public int Count => _ids.Count;
    public string this[int index] => _ids[index];
    /// <summary>Id <paramref name="index"/>, not cached (<see cref="MappedStrings.Decode"/>).</summary>
    public string Decode(int index) => _ids.Decode(index);
    /// <summary>Starts loading id <paramref name="index"/> (<see cref="MappedStrings.Prefetch"/>).</summary>
    public void Prefetch(int index) => _ids.Prefetch(index);
    public ReadOnlySpan<byte> Utf8(int index) => _ids.Utf8(index);

    /// <summary>The dense index of <paramref name="id"/>, or -1.</summary>
    public int IndexOf(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty || id.Length > MaxIdBytes / 3) return -1;
        Span<byte> utf8 = stackalloc byte[id.Length * 3];
        var n = Encoding.UTF8.GetBytes(id, utf8);
        return IndexOf(utf8[..n]);
    }

    public int IndexOf(ReadOnlySpan<byte> utf8)
    {
        var slot = (int)XxHash3.HashToUInt64(utf8) & _mask;
        // Probes are bounded by the table size, so a corrupt table that is full can't loop forever.
        for (var probe = 0; probe <= _mask; probe++, slot = (slot + 1) & _mask)
        {
            var index = _slots[slot];
            if (index < 0) return -1;
            if (index < Count && _ids.Utf8(index).SequenceEqual(utf8)) return index;
        }
        return -1;
    }

    public static void Write(string path, IReadOnlyList<string> ids)
    {
        var capacity = 16;
        while (capacity < 2L * ids.Count) capacity *= 2;
        var slots = new int[capacity];
        Array.Fill(slots, -1);
        var mask = capacity - 1;
        for (var i = 0; i < ids.Count; i++)
        {
            var slot = (int)XxHash3.HashToUInt64(Encoding.UTF8.GetBytes(ids[i])) & mask;
            while (slots[slot] >= 0)
            {
                if (ids[slots[slot]] == ids[i]) throw new ArgumentException($"Duplicate id '{ids[i]}'.", nameof(ids));
                slot = (slot + 1) & mask;
            }
            slots[slot] = i;
        }
        new SectionFileWriter(FourCC.From(Kind)).AddStrings("OFFS", "BLOB", ids).Add<int>("HASH", slots).Write(path);
    }
}

/// <summary>A dense float32 matrix (rows x columns, row-major) in a section file: 'DIMS' int64[2] and 'DATA'.</summary>
public sealed unsafe class MappedMatrix
{
    public const string Kind = "MTRX";
    private readonly float* _data;

    internal MappedMatrix(SectionFile file)
    {
        var dims = file.Span<long>("DIMS");
        if (dims.Length != 2 || dims[0] < 0 || dims[1] <= 0 || dims[1] > 4096 || dims[0] > int.MaxValue)
            throw new InvalidDataException($"{file.Path}: bad matrix dimensions.");
        Rows = (int)dims[0];
        Columns = (int)dims[1];
        _data = file.Pointer<float>("DATA", out var count);
        if (count != (long)Rows * Columns) throw new InvalidDataException($"{file.Path}: {count} values for a {Rows} x {Columns} matrix.");
    }

    public int Rows { get; }
    public int Columns { get; }

    public ReadOnlySpan<float> Row(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        return new ReadOnlySpan<float>(_data + (long)row * Columns, Columns);
    }

    /// <summary>All rows as one pointer, for scans that stride through the whole matrix.</summary>
    public float* Data => _data;

    /// <summary>Rows <paramref name="first"/> .. first + count - 1 as one row-major span, in place in the mapped file.</summary>
    public ReadOnlySpan<float> RowRange(int first, int count)
    {
        if ((uint)first > (uint)Rows || (uint)count > (uint)(Rows - first)) throw new ArgumentOutOfRangeException(nameof(count), $"Rows [{first}, {first}+{count}) are not within the {Rows} rows.");
        return new ReadOnlySpan<float>(_data + (long)first * Columns, checked(count * Columns));
    }

    /// <summary>Every row as one row-major span, in place.</summary>
    public ReadOnlySpan<float> All => RowRange(0, Rows);

    /// <summary>Starts loading row <paramref name="row"/>, every cache line of it (a hint: out of range is ignored): a
    /// caller about to score scattered rows asks for several first, so their misses overlap.</summary>
    public void PrefetchRow(int row)
    {
        if (!Sse.IsSupported || (uint)row >= (uint)Rows) return;
        var start = (byte*)(_data + (long)row * Columns);
        var end = start + (long)Columns * sizeof(float);
        for (var at = start; at < end; at += 64) Sse.Prefetch0(at);
        Sse.Prefetch0(end - 1); // a row that does not start on a line ends on one more
    }

    /// <summary>The largest magnitude a stored value may have: far beyond any trained factor, and small enough that squared
    /// norms and dot products over the widest rows (4096 columns) stay finite in float32.</summary>
    public const float MaxMagnitude = 1e15f;

    /// <summary>Where the first NaN, infinity or value beyond <see cref="MaxMagnitude"/> is ("row r, column c: NaN"), or null
    /// when there is none. Vectorized passes over the mapped values, split across cores (memory-bound: it runs at every
    /// start-up and swap; FORMAT.md gives the cost).</summary>
    public string? FirstInvalidValue()
    {
        const int chunk = 1 << 22; // 16 MB: enough chunks to share out, few enough that scheduling is nothing
        var total = (long)Rows * Columns;
        var chunks = (int)((total + chunk - 1) / chunk);
        var first = long.MaxValue;
        var data = (nint)_data;
        Parallel.For(0, chunks, c =>
        {
            var start = (long)c * chunk;
            var values = new ReadOnlySpan<float>((float*)data + start, (int)Math.Min(chunk, total - start));
            if (Math.Abs(System.Numerics.Tensors.TensorPrimitives.MaxMagnitude(values)) <= MaxMagnitude) return; // false for NaN
            for (var i = 0; i < values.Length; i++)
            {
                if (Math.Abs(values[i]) <= MaxMagnitude) continue;
                var at = start + i;
                for (var seen = Volatile.Read(ref first); at < seen; seen = Volatile.Read(ref first))
                    if (Interlocked.CompareExchange(ref first, at, seen) == seen) break;
                return;
            }
        });
        if (first == long.MaxValue) return null;
        return $"row {first / Columns}, column {first % Columns}: {_data[first].ToString(System.Globalization.CultureInfo.InvariantCulture)}";
    }

    public static void Write(string path, ReadOnlySpan<float> data, int rows, int columns)
    {
        if (data.Length != (long)rows * columns) throw new ArgumentException($"{data.Length} values for a {rows} x {columns} matrix.");
        new SectionFileWriter(FourCC.From(Kind)).Add<long>("DIMS", [rows, columns]).Add("DATA", data).Write(path);
    }
}

/// <summary>
/// A sparse matrix in a section file: 'SHAP' int64[2], 'RPTR' int64[rows + 1], 'COLS' int32, 'VALS' float32.
/// Row bounds and column indices are checked when a row is read.
/// </summary>
public sealed unsafe class MappedCsr
{
    public const string Kind = "CSRM";
    private readonly long* _pointers;
    private readonly int* _columns;
    private readonly float* _values;
    private readonly long _nonZeros;
    private readonly string _path;

    internal MappedCsr(SectionFile file)
    {
        var shape = file.Span<long>("SHAP");
        if (shape.Length != 2 || shape[0] < 0 || shape[1] < 0 || shape[0] > int.MaxValue || shape[1] > int.MaxValue)
            throw new InvalidDataException($"{file.Path}: bad sparse matrix shape.");
        Rows = (int)shape[0];
        Columns = (int)shape[1];
        _pointers = file.Pointer<long>("RPTR", out var pointers);
        if (pointers != Rows + 1L) throw new InvalidDataException($"{file.Path}: {pointers} row pointers for {Rows} rows.");
        _columns = file.Pointer<int>("COLS", out _nonZeros);
        _values = file.Pointer<float>("VALS", out var values);
        if (values != _nonZeros) throw new InvalidDataException($"{file.Path}: {values} values for {_nonZeros} column indices.");
        _path = file.Path;
    }

    public int Rows { get; }
    public int Columns { get; }
    public long NonZeros => _nonZeros;

    private (long Start, int Length) Range(int row)
    {
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        long start = _pointers[row], end = _pointers[row + 1];
        if (start < 0 || end < start || end > _nonZeros || end - start > int.MaxValue)
            throw new InvalidDataException($"{_path}: row {row} has pointers [{start}, {end}) outside {_nonZeros} non-zeros.");
        return (start, (int)(end - start));
    }

    /// <summary>
    /// Starts loading a row that will be read soon: reads its bounds (one miss) and hints its indices and values into
    /// the cache, without waiting for them. Rows of different matrices asked for together load in parallel.
    /// </summary>
    public void Prefetch(int row)
    {
        if (!Sse.IsSupported || (uint)row >= (uint)Rows) return;
        long start = _pointers[row], end = _pointers[row + 1];
        if (start < 0 || end < start || end > _nonZeros) return; // RowIndices reports a damaged row
        for (long b = 0; b < (end - start) * sizeof(int); b += 64)
        {
            Sse.Prefetch0((byte*)(_columns + start) + b);
            Sse.Prefetch0((byte*)(_values + start) + b);
        }
    }

    /// <summary>
    /// The first problem with the matrix's whole content, or null: row pointers that do not rise from 0 to the non-zero
    /// count, a column outside the matrix, a non-finite value or one beyond <see cref="MappedMatrix.MaxMagnitude"/>.
    /// One pass over the file: for the small matrices parts carry (tags), checked when a bundle opens.
    /// </summary>
    public string? FirstInvalidValue()
    {
        if (_pointers[0] != 0 || _pointers[Rows] != _nonZeros) return $"row pointers run from {_pointers[0]} to {_pointers[Rows]}, not 0 to {_nonZeros}";
        for (var r = 0; r < Rows; r++)
            if (_pointers[r + 1] < _pointers[r]) return $"row {r}: pointers decrease";
        for (long k = 0; k < _nonZeros; k++)
        {
            if ((uint)_columns[k] >= (uint)Columns) return $"non-zero {k}: column {_columns[k]} outside {Columns}";
            if (!(Math.Abs(_values[k]) <= MappedMatrix.MaxMagnitude)) return $"non-zero {k}: {_values[k].ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        }
        _verified = true;
        return null;
    }

    // Set once every pointer and column was checked (FirstInvalidValue): rows are then read without checking them again.
    private bool _verified;

    /// <summary><see cref="RowIndices"/> of a matrix whose whole content was checked at open (<see cref="FirstInvalidValue"/>):
    /// the same span without the per-read checks, for the parts read many times a request. Falls back to the checked
    /// read for a matrix that was not verified.</summary>
    public ReadOnlySpan<int> VerifiedRowIndices(int row)
    {
        if (!_verified) return RowIndices(row);
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        long start = _pointers[row];
        return new ReadOnlySpan<int>(_columns + start, (int)(_pointers[row + 1] - start));
    }

    /// <summary><see cref="RowValues"/>, unchecked like <see cref="VerifiedRowIndices"/>.</summary>
    public ReadOnlySpan<float> VerifiedRowValues(int row)
    {
        if (!_verified) return RowValues(row);
        if ((uint)row >= (uint)Rows) throw new ArgumentOutOfRangeException(nameof(row));
        long start = _pointers[row];
        return new ReadOnlySpan<float>(_values + start, (int)(_pointers[row + 1] - start));
    }

    /// <summary>Row's column indices (ascending); each is checked to be inside the matrix.</summary>
    public ReadOnlySpan<int> RowIndices(int row)
    {
        var (start, length) = Range(row);
        var span = new ReadOnlySpan<int>(_columns + start, length);
        foreach (var c in span)
        {
            if ((uint)c >= (uint)Columns) throw new InvalidDataException($"{_path}: row {row} has column {c} outside {Columns}.");
        }
        return span;
    }

    public ReadOnlySpan<float> RowValues(int row)
    {
        var (start, length) = Range(row);
        return new ReadOnlySpan<float>(_values + start, length);
    }

    public static void Write(string path, Sparse.CsrMatrix matrix)
    {
        var pointers = new long[matrix.Rows + 1];
        for (var i = 0; i <= matrix.Rows; i++) pointers[i] = matrix.RowPointers[i];
        new SectionFileWriter(FourCC.From(Kind))
            .Add<long>("SHAP", [matrix.Rows, matrix.Columns])
            .Add<long>("RPTR", pointers)
            .Add<int>("COLS", matrix.ColumnIndices)
            .Add<float>("VALS", matrix.Values)
            .Write(path);
    }
}
