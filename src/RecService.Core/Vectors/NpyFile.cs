using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;

namespace RecService.Core.Vectors;

/// <summary>
/// Reads and writes NumPy .npy files holding a 2-D float32 matrix in C order (the format other tools, e.g. a Python
/// notebook, use to hand factor matrices to <c>rec</c>). Only versions 1.0-3.0 of the format, only little-endian '&lt;f4'.
/// </summary>
public static class NpyFile
{
    private static ReadOnlySpan<byte> Magic => [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    public static (float[] Data, int Rows, int Cols) ReadFloat32Matrix(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        Span<byte> pre = stackalloc byte[10];
        stream.ReadExactly(pre[..8]);
        if (!pre[..6].SequenceEqual(Magic)) throw new InvalidDataException($"{path}: not a .npy file (bad magic).");
        int major = pre[6];
        int headerLength;
        if (major == 1)
        {
            stream.ReadExactly(pre.Slice(8, 2));
            headerLength = BinaryPrimitives.ReadUInt16LittleEndian(pre.Slice(8, 2));
        }
        else if (major is 2 or 3)
        {
            Span<byte> len = stackalloc byte[4];
            stream.ReadExactly(len);
            uint l = BinaryPrimitives.ReadUInt32LittleEndian(len);
            if (l > 1 << 20) throw new InvalidDataException($"{path}: .npy header too long ({l} bytes).");
            headerLength = (int)l;
        }
        else throw new InvalidDataException($"{path}: unsupported .npy version {major}.");

        var headerBytes = new byte[headerLength];
        stream.ReadExactly(headerBytes);
        string header = Encoding.Latin1.GetString(headerBytes);
        string descr = DictValue(header, "descr", path).Trim().Trim('\'', '"');
        if (descr is not ("<f4" or "=f4" or "f4"))
            throw new InvalidDataException($"{path}: dtype {descr} not supported; save the matrix as float32 ('<f4').");
        if (DictValue(header, "fortran_order", path).Trim() != "False")
            throw new InvalidDataException($"{path}: Fortran-order arrays not supported; save with np.ascontiguousarray.");
        string shape = DictValue(header, "shape", path).Trim().TrimStart('(').TrimEnd(')');
        var parts = shape.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != 2) throw new InvalidDataException($"{path}: expected a 2-D array, shape is ({shape}).");
        if (!long.TryParse(parts[0], out long rows) || !long.TryParse(parts[1], out long cols) || rows < 0 || cols <= 0)
            throw new InvalidDataException($"{path}: bad shape ({shape}).");
        long total = rows * cols;
        if (total > Array.MaxLength) throw new InvalidDataException($"{path}: {rows}x{cols} is too large to load.");
        long remaining = stream.Length - stream.Position;
        if (remaining < total * 4) throw new InvalidDataException($"{path}: truncated: needs {total * 4} data bytes, has {remaining}.");

        var data = new float[total];
        stream.ReadExactly(MemoryMarshal.AsBytes(data.AsSpan()));
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Big-endian hosts are not supported.");
        return (data, (int)rows, (int)cols);
    }

    /// <summary>Finds the value of a key in the header's Python dict literal (values here never contain a top-level comma
    /// except inside the shape tuple, which is bracketed).</summary>
    private static string DictValue(string header, string key, string path)
    {
        int k = header.IndexOf($"'{key}'", StringComparison.Ordinal);
        if (k < 0) k = header.IndexOf($"\"{key}\"", StringComparison.Ordinal);
        if (k < 0) throw new InvalidDataException($"{path}: .npy header lacks '{key}'.");
        int colon = header.IndexOf(':', k);
        if (colon < 0) throw new InvalidDataException($"{path}: malformed .npy header.");
        int i = colon + 1, depth = 0;
        var sb = new StringBuilder();
        for (; i < header.Length; i++)
        {
            char c = header[i];
            if (c == '(') depth++;
            else if (c == ')') depth--;
            else if ((c == ',' || c == '}') && depth == 0) break;
            sb.Append(c);
        }
        return sb.ToString();
    }

    /// <summary>Writes a rows x cols float32 matrix as .npy version 1.0 (header padded so data starts 64-byte aligned).
    /// Writes to a temporary file and renames it, so a reader never sees half a file.</summary>
    public static void WriteFloat32Matrix(string path, ReadOnlySpan<float> data, int rows, int cols)
    {
        if ((long)rows * cols != data.Length) throw new ArgumentException($"data has {data.Length} values, expected {rows}x{cols}.");
        string dict = $"{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {cols}), }}";
        int unpadded = 10 + dict.Length + 1;
        int total = (unpadded + 63) / 64 * 64;
        string header = dict + new string(' ', total - unpadded) + "\n";
        string tmp = path + ".tmp";
        using (var stream = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16))
        {
            stream.Write(Magic);
            stream.WriteByte(1);
            stream.WriteByte(0);
            Span<byte> len = stackalloc byte[2];
            BinaryPrimitives.WriteUInt16LittleEndian(len, (ushort)header.Length);
            stream.Write(len);
            stream.Write(Encoding.Latin1.GetBytes(header));
            stream.Write(MemoryMarshal.AsBytes(data));
        }
        File.Move(tmp, path, overwrite: true);
    }
}
