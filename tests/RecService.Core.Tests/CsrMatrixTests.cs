using RecService.Core.Sparse;

namespace RecService.Core.Tests;

public class CsrMatrixTests
{
    [Fact]
    public void FromTriples_sums_duplicates_and_sorts_columns()
    {
        var m = CsrMatrix.FromTriples(3, 4, [2, 0, 0, 2, 0], [1, 3, 1, 1, 3], [1f, 2f, 5f, 4f, 0.5f]);
        Assert.Equal([0, 2, 2, 3], m.RowPointers);
        Assert.Equal([1, 3, 1], m.ColumnIndices);
        Assert.Equal([5f, 2.5f, 5f], m.Values);
        Assert.Equal(2.5f, m.Get(0, 3));
        Assert.Equal(0f, m.Get(1, 3));
    }

    [Fact]
    public void Transpose_twice_is_identity()
    {
        var m = CsrMatrix.FromTriples(3, 4, [2, 0, 0, 1], [1, 3, 1, 0], [1f, 2f, 5f, 7f]);
        var t = m.Transpose();
        Assert.Equal(4, t.Rows);
        Assert.Equal(7f, t.Get(0, 1));
        Assert.Equal(2f, t.Get(3, 0));
        var back = t.Transpose();
        Assert.Equal(m.RowPointers, back.RowPointers);
        Assert.Equal(m.ColumnIndices, back.ColumnIndices);
        Assert.Equal(m.Values, back.Values);
    }

    [Fact]
    public void FromTriples_rejects_out_of_range()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CsrMatrix.FromTriples(2, 2, [2], [0], [1f]));
    }
}
