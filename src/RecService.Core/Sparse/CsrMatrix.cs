namespace RecService.Core.Sparse;

/// <summary>
/// Compressed sparse rows: row r's entries are <c>ColumnIndices[RowPointers[r]..RowPointers[r+1]]</c>
/// with the matching <c>Values</c>, columns ascending within a row.
/// int32 indices and float32 values keep a 2.5M-nnz matrix near 20 MB, which is what lets ALS stream it
/// through cache; the cost is a 2^31-1 nnz ceiling, checked where matrices are built.
/// </summary>
public sealed class CsrMatrix
{
    public CsrMatrix(int rows, int columns, int[] rowPointers, int[] columnIndices, float[] values)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(columns);
        if (rowPointers.Length != rows + 1)
            throw new ArgumentException($"rowPointers has {rowPointers.Length} entries, expected rows + 1 = {rows + 1}.", nameof(rowPointers));
        if (columnIndices.Length != values.Length)
            throw new ArgumentException("columnIndices and values differ in length.", nameof(values));
        if (rowPointers[0] != 0 || rowPointers[rows] != values.Length)
            throw new ArgumentException("rowPointers must start at 0 and end at nnz.", nameof(rowPointers));
        Rows = rows;
        Columns = columns;
        RowPointers = rowPointers;
        ColumnIndices = columnIndices;
        Values = values;
    }

    public int Rows { get; }
    public int Columns { get; }
    public int[] RowPointers { get; }
    public int[] ColumnIndices { get; }
    public float[] Values { get; }
    public int NonZeros => Values.Length;

    public ReadOnlySpan<int> RowIndices(int row) => ColumnIndices.AsSpan(RowPointers[row], RowPointers[row + 1] - RowPointers[row]);
    public ReadOnlySpan<float> RowValues(int row) => Values.AsSpan(RowPointers[row], RowPointers[row + 1] - RowPointers[row]);
    public int RowLength(int row) => RowPointers[row + 1] - RowPointers[row];

    /// <summary>Value at (row, column), or 0 when absent (binary search within the row).</summary>
    public float Get(int row, int column)
    {
        var i = RowIndices(row).BinarySearch(column);
        return i >= 0 ? Values[RowPointers[row] + i] : 0f;
    }

    /// <summary>The transpose, built by a counting sort over columns: O(nnz), columns stay ascending.</summary>
    public CsrMatrix Transpose()
    {
        var pointers = new int[Columns + 1];
        foreach (var c in ColumnIndices) pointers[c + 1]++;
        for (var c = 0; c < Columns; c++) pointers[c + 1] += pointers[c];
        var next = pointers.AsSpan(0, Columns).ToArray();
        var indices = new int[NonZeros];
        var values = new float[NonZeros];
        for (var r = 0; r < Rows; r++)
        {
            for (var k = RowPointers[r]; k < RowPointers[r + 1]; k++)
            {
                var slot = next[ColumnIndices[k]]++;
                indices[slot] = r;
                values[slot] = Values[k];
            }
        }
        return new CsrMatrix(Columns, Rows, pointers, indices, values);
    }

    /// <summary>
    /// Builds a matrix from (row, column, value) triples in any order; duplicates are summed.
    /// </summary>
    public static CsrMatrix FromTriples(int rows, int columns, ReadOnlySpan<int> rowIds, ReadOnlySpan<int> columnIds, ReadOnlySpan<float> values)
    {
        if (rowIds.Length != columnIds.Length || rowIds.Length != values.Length)
            throw new ArgumentException("Triple spans differ in length.");
        var keys = new long[rowIds.Length];
        var vals = values.ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            if ((uint)rowIds[i] >= (uint)rows || (uint)columnIds[i] >= (uint)columns)
                throw new ArgumentOutOfRangeException(nameof(rowIds), $"Triple {i} ({rowIds[i]}, {columnIds[i]}) is outside {rows}x{columns}.");
            keys[i] = ((long)rowIds[i] << 32) | (uint)columnIds[i];
        }
        Array.Sort(keys, vals);
        var n = PairKeys.MergeSorted(keys, vals);
        return FromSortedKeys(rows, columns, keys.AsSpan(0, n), vals.AsSpan(0, n));
    }

    /// <summary>Builds from keys <c>(row &lt;&lt; 32) | column</c> sorted ascending with no duplicates.</summary>
    public static CsrMatrix FromSortedKeys(int rows, int columns, ReadOnlySpan<long> keys, ReadOnlySpan<float> values)
    {
        if (keys.Length > int.MaxValue - 64)
            throw new InvalidOperationException($"{keys.Length} non-zeros exceed the int32 CSR limit.");
        var pointers = new int[rows + 1];
        var indices = new int[keys.Length];
        var vals = values.ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            pointers[(int)(keys[i] >> 32) + 1]++;
            indices[i] = (int)keys[i];
        }
        for (var r = 0; r < rows; r++) pointers[r + 1] += pointers[r];
        return new CsrMatrix(rows, columns, pointers, indices, vals);
    }
}

/// <summary>Helpers for the packed (row, column) keys used while aggregating triples.</summary>
public static class PairKeys
{
    public static long Pack(int row, int column) => ((long)row << 32) | (uint)column;

    /// <summary>Collapses runs of equal keys in a sorted array by summing their values; returns the new length.</summary>
    public static int MergeSorted(Span<long> keys, Span<float> values)
    {
        if (keys.Length == 0) return 0;
        var w = 0;
        for (var i = 1; i < keys.Length; i++)
        {
            if (keys[i] == keys[w]) values[w] += values[i];
            else
            {
                w++;
                keys[w] = keys[i];
                values[w] = values[i];
            }
        }
        return w + 1;
    }
}
