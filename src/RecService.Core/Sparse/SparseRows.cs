namespace RecService.Core.Sparse;

/// <summary>Operations on sparse rows given as ascending indices with their values (a CSR row, mapped or in memory).</summary>
public static class SparseRows
{
    /// <summary>The dot product of two rows: a merge of their sorted indices.</summary>
    public static float Dot(ReadOnlySpan<int> aIndices, ReadOnlySpan<float> aValues, ReadOnlySpan<int> bIndices, ReadOnlySpan<float> bValues)
    {
        float sum = 0;
        int i = 0, j = 0;
        while (i < aIndices.Length && j < bIndices.Length)
        {
            if (aIndices[i] == bIndices[j]) sum += aValues[i++] * bValues[j++];
            else if (aIndices[i] < bIndices[j]) i++;
            else j++;
        }
        return sum;
    }
}
