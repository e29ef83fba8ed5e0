using System.Runtime.CompilerServices;
using RecService.Core.Bundle;
using RecService.Core.Vectors;

namespace RecService.Core.Forest;

// Opening, header/section validation and the full Verify pass.
public sealed unsafe partial class ForestIndex
{
    /// <summary>
    /// Opens and maps a forest file. Checks, in O(1): magic, version, header checksum, metric and sizes, that the file
    /// length matches the header (so truncation is caught), and that every section is 64-byte aligned, inside the file,
    /// exactly as long as the counts imply, and disjoint from the others. A file built with external vectors takes them
    /// in <paramref name="vectors"/> (ignored for a file that holds its own); opened without them it can be verified but
    /// not searched.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a forest file, or is truncated or damaged.</exception>
    /// <exception cref="ArgumentException">The external vectors are not Count x Dimensions.</exception>
    public static ForestIndex Open(string path, ExternalVectors? vectors = null)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Forest files are little-endian; big-endian hosts are not supported.");
        var file = MappedFile.Open(path, FileOptions.RandomAccess);
        try
        {
            long length = file.Length;
            if (length < ForestHeader.Size) throw Corrupt(path, $"file is {length} bytes, shorter than the {ForestHeader.Size}-byte header");
            byte* pointer = file.Pointer;
            var header = Unsafe.ReadUnaligned<ForestHeader>(pointer);
            ValidateHeader(path, in header, length);
            float* external = null;
            if ((header.Flags & ForestHeader.ExternalVectorsFlag) != 0 && vectors is { } v)
            {
                if (v.Rows != header.Count || v.Columns != header.Dimensions || v.Data == null)
                    throw new ArgumentException($"{path}: the forest holds {header.Count} x {header.Dimensions} vectors; it was handed {v.Rows} x {v.Columns}.", nameof(vectors));
                external = v.Data;
            }
            return new ForestIndex(path, file, in header, external);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The mapped file (the bundle's change check reads its identity).</summary>
    internal MappedFile File => _file;

    private static void ValidateHeader(string path, in ForestHeader h, long fileLength)
    {
        if (h.Magic != ForestHeader.MagicValue) throw Corrupt(path, "not a forest index (bad magic)");
        if (h.FormatVersion != ForestHeader.CurrentVersion) throw Corrupt(path, $"format version {h.FormatVersion}; this build reads version {ForestHeader.CurrentVersion}");
        if (h.HeaderSize != ForestHeader.Size) throw Corrupt(path, $"header size {h.HeaderSize}, expected {ForestHeader.Size}");
        if (Crc32C.HeaderCrc(h) != h.HeaderCrc) throw Corrupt(path, "header checksum mismatch (damaged header)");
        if (h.FileLength != (ulong)fileLength)
            throw Corrupt(path, h.FileLength > (ulong)fileLength ? $"truncated: header says {h.FileLength} bytes, file has {fileLength}" : $"header says {h.FileLength} bytes, file has {fileLength}");
        if (h.Metric is not ((uint)Metric.Cosine or (uint)Metric.Dot)) throw Corrupt(path, $"unknown metric {h.Metric}");
        if ((h.Flags & ~ForestHeader.ExternalVectorsFlag) != 0) throw Corrupt(path, $"unknown flags 0x{h.Flags:x}");
        if (h.TunedSearchK > int.MaxValue || !(h.TunedRecall is >= 0 and <= 1) || !(h.TunedStopSlack is >= 0 and < float.PositiveInfinity))
            throw Corrupt(path, $"tuned search {h.TunedSearchK} (stop slack {h.TunedStopSlack}) at recall {h.TunedRecall} out of range");
        if (h.Dimensions is < 1 or > VectorMath.MaxQuantizedDimensions) throw Corrupt(path, $"dimensions {h.Dimensions} out of range");
        if (h.PaddedDimensions != (uint)VectorMath.RoundUp((int)h.Dimensions, 16)) throw Corrupt(path, $"padded dimensions {h.PaddedDimensions} do not match {h.Dimensions}");
        if (h.Count is < 1 or > int.MaxValue) throw Corrupt(path, $"item count {h.Count} out of range");
        if (h.Trees is < 1 or > 1024) throw Corrupt(path, $"tree count {h.Trees} out of range");
        ulong positions = (ulong)h.Trees * h.Count;
        if (positions > int.MaxValue) throw Corrupt(path, "trees x count exceeds the format's int32 positions");
        // A tree over n items has at most n leaves and n - 1 splits.
        if (h.LeafCount < h.Trees || h.LeafCount > positions) throw Corrupt(path, $"leaf count {h.LeafCount} out of range");
        if (h.NodeCount > positions) throw Corrupt(path, $"node count {h.NodeCount} out of range");

        ulong count = h.Count, padded = h.PaddedDimensions;
        Span<ulong> expected = stackalloc ulong[ForestHeader.SectionCount];
        expected[(int)ForestSection.Vectors] = (h.Flags & ForestHeader.ExternalVectorsFlag) != 0 ? 0 : count * h.Dimensions * sizeof(float);
        expected[(int)ForestSection.InverseNorms] = count * sizeof(float);
        expected[(int)ForestSection.SlotItems] = count * sizeof(int);
        expected[(int)ForestSection.IdSlots] = count * sizeof(int);
        if (h.CodedTrees < 1 || h.CodedTrees > h.Trees) throw Corrupt(path, $"coded tree count {h.CodedTrees} out of range");
        expected[(int)ForestSection.LeafScales] = (ulong)h.CodedTrees * count * sizeof(float);
        expected[(int)ForestSection.LeafCodes] = (ulong)h.CodedTrees * count * padded;
        expected[(int)ForestSection.Roots] = (ulong)h.Trees * sizeof(int);
        expected[(int)ForestSection.Nodes] = (ulong)h.NodeCount * (ulong)ForestHeader.NodeStride((int)padded);
        expected[(int)ForestSection.Leaves] = (ulong)h.LeafCount * (ulong)sizeof(LeafRecord);
        expected[(int)ForestSection.LeafSlots] = positions * sizeof(int);
        Span<ulong> starts = stackalloc ulong[ForestHeader.SectionCount];
        Span<ulong> ends = stackalloc ulong[ForestHeader.SectionCount];
        for (int s = 0; s < ForestHeader.SectionCount; s++)
        {
            ulong offset = h.SectionOffset((ForestSection)s), length = h.SectionLength((ForestSection)s);
            var name = (ForestSection)s;
            if (length != expected[s]) throw Corrupt(path, $"section {name} is {length} bytes, expected {expected[s]}");
            if (offset % ForestHeader.Alignment != 0) throw Corrupt(path, $"section {name} offset {offset} is not {ForestHeader.Alignment}-byte aligned");
            if (offset < ForestHeader.Size || offset > h.FileLength || length > h.FileLength - offset)
                throw Corrupt(path, $"section {name} [{offset}, +{length}) lies outside the file");
            starts[s] = offset;
            ends[s] = offset + length;
        }
        for (int a = 0; a < ForestHeader.SectionCount; a++)
            for (int b = a + 1; b < ForestHeader.SectionCount; b++)
                if (starts[a] < ends[b] && starts[b] < ends[a]) throw Corrupt(path, $"sections {(ForestSection)a} and {(ForestSection)b} overlap");
    }

    /// <summary>
    /// Full check, O(file size): the body checksum, then every root, child, leaf range and item id. After it passes,
    /// the file is exactly what the builder wrote.
    /// </summary>
    public void Verify()
    {
        AddRef();
        try
        {
            long bodyLength = (long)_header.FileLength - _header.HeaderSize;
            uint crc = Crc32C.Append(0, _base + _header.HeaderSize, bodyLength);
            if (crc != _header.BodyCrc) throw Corrupt(_path, "body checksum mismatch (damaged data)");
            for (int t = 0; t < _trees; t++) CheckReference(_roots[t], -1);
            for (int n = 0; n < _nodeCount; n++)
            {
                ref readonly var tail = ref Tail(n);
                CheckReference(tail.Left, n);
                CheckReference(tail.Right, n);
            }
            for (int l = 0; l < _leafCount; l++) CheckLeaf(_leaves[l]);
            for (long p = 0; p < _positions; p++)
                if ((uint)_leafSlots[p] >= (uint)_count) throw Corrupt(_path, $"slot {_leafSlots[p]} at position {p} out of range");
            // SlotItems and IdSlots must be inverse permutations.
            for (int slot = 0; slot < _count; slot++)
            {
                int id = _slotItems[slot];
                if ((uint)id >= (uint)_count || _idSlots[id] != slot) throw Corrupt(_path, $"slot {slot} and id {id} do not map to each other");
            }
        }
        finally { Release(); }
    }

    private void CheckReference(int reference, int parent)
    {
        if (reference >= 0)
        {
            if (reference >= _nodeCount || reference <= parent) throw Corrupt(_path, $"node {parent} has bad child {reference}");
        }
        else if ((uint)~reference >= (uint)_leafCount) throw Corrupt(_path, $"node {parent} has bad leaf {~reference}");
    }

    private void CheckLeaf(in LeafRecord leaf)
    {
        if (leaf.Start < 0 || leaf.Length < 0 || (long)leaf.Start + leaf.Length > _positions) throw Corrupt(_path, $"leaf range [{leaf.Start}, +{leaf.Length}) out of range");
    }
}
