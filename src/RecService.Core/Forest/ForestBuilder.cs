using RecService.Core.Sampling;
using System.Diagnostics;
using System.Runtime.InteropServices;
using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>What a build produced.</summary>
public sealed record ForestBuildInfo(string Path, int Count, int Dimensions, int Trees, int Nodes, int Leaves, long FileBytes, TimeSpan Elapsed);

/// <summary>
/// Builds a forest file (layout in FORMAT.md) from a row-major float32 matrix.
/// <para>Geometry: every item becomes a point on the unit sphere. Cosine: y/|y|. Dot: the MIPS transform of
/// Bachrach et al. (2014), [y/M, sqrt(1 - |y|²/M²)] with M the largest norm, so the item maximizing q·y is the point
/// nearest to the query placed on the same sphere, [q/|q|, 0]. Splits are hyperplanes with an offset (not through the
/// origin, unlike Annoy's angular trees) between the two means of a sample, which follows the data even where the
/// transform crowds low-norm items near the pole. Because a query's extra coordinate is 0, only the first Dimensions
/// components of a normal are stored.</para>
/// <para>Determinism: tree t draws from its own seeded <see cref="Random"/> (seed mixed from Seed and t), trees are
/// independent, and every parallel loop writes disjoint slots, so the bytes depend on neither Threads nor the run.
/// They may differ between CPUs with different vector widths (float sums in another order).</para>
/// </summary>
public static class ForestBuilder
{
    public static ForestBuildInfo Build(float[] vectors, int count, int dims, ForestOptions options, string outputPath) =>
        Build(vectors.AsSpan(), count, dims, options, outputPath);

    public static ForestBuildInfo Build(ReadOnlySpan<float> vectors, int count, int dims, ForestOptions options, string outputPath)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentException.ThrowIfNullOrEmpty(outputPath);
        options.Validate(dims);
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "A forest needs at least one item.");
        if ((long)count * dims > vectors.Length) throw new ArgumentException($"vectors holds {vectors.Length} floats, fewer than {count}x{dims}.");
        if ((long)count * options.Trees > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(count), "Count x Trees must fit in an int32 position.");
        // The builder holds codes and points in single arrays (.NET arrays index with int).
        if ((long)count * (VectorMath.RoundUp(dims + 1, 16)) > Array.MaxLength) throw new ArgumentOutOfRangeException(nameof(count), "Count x padded dimensions exceeds what one build can hold in memory.");
        int padded = VectorMath.RoundUp(dims, 16);
        int codedTrees = options.CodedTreeCount(count, padded);
        if ((long)codedTrees * count * padded > Array.MaxLength)
            throw new ArgumentOutOfRangeException(nameof(options), $"{codedTrees} code copies of {count} items exceed what one build can hold in memory; ask for fewer CodedTrees.");
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("Forest files are little-endian; big-endian hosts are not supported.");
        vectors = vectors[..(count * dims)];
        var nonFinite = VectorMath.IndexOfNonFinite(vectors);
        if (nonFinite >= 0) throw new ArgumentException($"Item {nonFinite / dims} has a non-finite component.", nameof(vectors));

        var clock = Stopwatch.StartNew();
        var parallel = new ParallelOptions { MaxDegreeOfParallelism = options.Threads > 0 ? options.Threads : Environment.ProcessorCount };
        var source = vectors.ToArray(); // Parallel loops cannot capture a span.

        // Per-item data shared by all trees: norms, int8 codes of the scoring vector, and the points the trees split.
        var inverseNorms = new float[count];
        var scales = new float[count];
        var codes = new sbyte[(long)count * padded];
        float maxNorm = 0f;
        for (int i = 0; i < count; i++) maxNorm = Math.Max(maxNorm, VectorMath.Norm(source.AsSpan(i * dims, dims)));
        int pointDims = options.Metric == Metric.Dot ? dims + 1 : dims;
        int stride = VectorMath.RoundUp(pointDims, 8);
        var points = new float[(long)count * stride];
        var metric = options.Metric;
        Parallel.For(0, count, parallel, () => new float[dims], (i, _, scoring) =>
        {
            var y = source.AsSpan(i * dims, dims);
            float norm = VectorMath.Norm(y);
            inverseNorms[i] = norm > 0f ? 1f / norm : 0f;
            // Candidates are scored against the unit query, so cosine scores codes of y/|y| and dot scores codes of y.
            y.CopyTo(scoring);
            if (metric == Metric.Cosine) VectorMath.NormalizeInPlace(scoring);
            scales[i] = VectorMath.QuantizeInt8(scoring, codes.AsSpan(i * padded, padded));
            var p = points.AsSpan(i * stride, stride);
            if (metric == Metric.Cosine)
            {
                scoring.CopyTo(p);
            }
            else
            {
                float inv = maxNorm > 0f ? 1f / maxNorm : 0f;
                for (int j = 0; j < dims; j++) p[j] = y[j] * inv;
                float r = norm * inv;
                p[dims] = MathF.Sqrt(Math.Max(0f, 1f - r * r));
            }
            return scoring;
        }, _ => { });

        var trees = new TreeBuilder[options.Trees];
        Parallel.For(0, options.Trees, parallel, t =>
        {
            var tree = new TreeBuilder(points, count, stride, dims, padded, options, TreeSeed(options.Seed, t));
            tree.Build();
            trees[t] = tree;
        });

        long bytes = Write(outputPath, source, count, dims, padded, codedTrees, options, maxNorm, inverseNorms, scales, codes, trees, out int nodeCount, out int leafCount);
        return new ForestBuildInfo(outputPath, count, dims, options.Trees, nodeCount, leafCount, bytes, clock.Elapsed);
    }

    /// <summary>Seed of tree t: SplitMix64 of (seed, t). Not <see cref="HashCode"/>, which is salted per process and
    /// would make builds differ from run to run.</summary>
    internal static int TreeSeed(int seed, int tree)
    {
        ulong state = (ulong)(uint)seed << 32 | (uint)tree;
        return (int)(Sampling.SplitMix64.Next(ref state) & int.MaxValue);
    }

    private static long Write(string outputPath, float[] source, int count, int dims, int padded, int codedTrees, ForestOptions options, float maxNorm,
        float[] inverseNorms, float[] scales, sbyte[] codes, TreeBuilder[] trees, out int nodeCount, out int leafCount)
    {
        int nodeStride = ForestHeader.NodeStride(padded);
        var nodeBase = new int[trees.Length];
        var leafBase = new int[trees.Length];
        nodeCount = 0;
        leafCount = 0;
        for (int t = 0; t < trees.Length; t++)
        {
            nodeBase[t] = nodeCount;
            leafBase[t] = leafCount;
            nodeCount += trees[t].Nodes.Count;
            leafCount += trees[t].Leaves.Count;
        }

        // Slots: tree 0's leaf order.
        var slotItems = trees[0].Order;
        var idSlots = new int[count];
        for (int slot = 0; slot < count; slot++) idSlots[slotItems[slot]] = slot;
        var leafScales = new float[(long)codedTrees * count];
        var leafCodes = new sbyte[(long)codedTrees * count * padded];
        for (int t = 0; t < codedTrees; t++)
        {
            var order = trees[t].Order;
            for (int p = 0; p < count; p++)
            {
                int id = order[p];
                long position = (long)t * count + p;
                leafScales[position] = scales[id];
                codes.AsSpan(id * padded, padded).CopyTo(leafCodes.AsSpan((int)(position * padded), padded));
            }
        }
        var leafSlots = new int[(long)trees.Length * count];
        for (int t = 0; t < trees.Length; t++)
        {
            var order = trees[t].Order;
            var dest = leafSlots.AsSpan(t * count, count);
            for (int p = 0; p < count; p++) dest[p] = idSlots[order[p]];
        }

        var roots = new int[trees.Length];
        var nodes = new byte[(long)nodeCount * nodeStride];
        var leaves = new LeafRecord[leafCount];
        for (int t = 0; t < trees.Length; t++)
        {
            int Global(int reference) => reference >= 0 ? reference + nodeBase[t] : ~(~reference + leafBase[t]);
            roots[t] = Global(trees[t].Root);
            for (int n = 0; n < trees[t].Nodes.Count; n++)
            {
                var node = trees[t].Nodes[n];
                var record = nodes.AsSpan((nodeBase[t] + n) * nodeStride, nodeStride);
                MemoryMarshal.AsBytes(node.NormalCodes.AsSpan()).CopyTo(record);
                var tail = new NodeTail { Scale = node.Scale, Offset = node.Offset, Left = Global(node.Left), Right = Global(node.Right) };
                MemoryMarshal.Write(record[padded..], in tail);
            }
            for (int l = 0; l < trees[t].Leaves.Count; l++)
            {
                var (start, length) = trees[t].Leaves[l];
                leaves[leafBase[t] + l] = new LeafRecord { Start = t * count + start, Length = length };
            }
        }

        string temp = $"{outputPath}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            var header = new ForestHeader
            {
                Magic = ForestHeader.MagicValue,
                FormatVersion = ForestHeader.CurrentVersion,
                HeaderSize = ForestHeader.Size,
                Metric = (uint)options.Metric,
                Dimensions = (uint)dims,
                PaddedDimensions = (uint)padded,
                Count = (uint)count,
                Trees = (uint)trees.Length,
                LeafSize = (uint)options.LeafSize,
                NodeCount = (uint)nodeCount,
                LeafCount = (uint)leafCount,
                MaxNorm = maxNorm,
                CodedTrees = (uint)codedTrees,
                Seed = (ulong)(uint)options.Seed,
                Flags = options.ExternalVectors ? ForestHeader.ExternalVectorsFlag : 0,
            };
            long length;
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 20))
            {
                var writer = new SectionWriter(stream);
                writer.ReserveHeader();
                writer.Section(ref header, ForestSection.Vectors, options.ExternalVectors ? [] : MemoryMarshal.AsBytes(source.AsSpan()));
                writer.Section(ref header, ForestSection.InverseNorms, MemoryMarshal.AsBytes(inverseNorms.AsSpan()));
                writer.Section(ref header, ForestSection.SlotItems, MemoryMarshal.AsBytes(slotItems.AsSpan()));
                writer.Section(ref header, ForestSection.IdSlots, MemoryMarshal.AsBytes(idSlots.AsSpan()));
                writer.Section(ref header, ForestSection.LeafScales, MemoryMarshal.AsBytes(leafScales.AsSpan()));
                writer.Section(ref header, ForestSection.LeafCodes, MemoryMarshal.AsBytes(leafCodes.AsSpan()));
                writer.Section(ref header, ForestSection.Roots, MemoryMarshal.AsBytes(roots.AsSpan()));
                writer.Section(ref header, ForestSection.Nodes, nodes);
                writer.Section(ref header, ForestSection.Leaves, MemoryMarshal.AsBytes(leaves.AsSpan()));
                writer.Section(ref header, ForestSection.LeafSlots, MemoryMarshal.AsBytes(leafSlots.AsSpan()));
                writer.Pad(ForestHeader.Alignment);
                length = stream.Position;
                header.FileLength = (ulong)length;
                header.BodyCrc = writer.Crc;
                header.HeaderCrc = Crc32C.HeaderCrc(header);
                stream.Position = 0;
                stream.Write(MemoryMarshal.AsBytes(new ReadOnlySpan<ForestHeader>(ref header)));
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, outputPath, overwrite: true);
            return length;
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { }
            throw;
        }
    }

    /// <summary>Streams sections, zero-padding each to the 64-byte alignment and keeping the body's CRC-32C.</summary>
    private sealed class SectionWriter(FileStream stream)
    {
        private long _sectionStart;
        public uint Crc { get; private set; }

        /// <summary>Zeros where the header goes; it is written last, once offsets and checksums are known, and is
        /// not part of the body checksum.</summary>
        public void ReserveHeader() => stream.Write(new byte[ForestHeader.Size]);

        public void Pad(int alignment)
        {
            long target = VectorMath.RoundUp(stream.Position, alignment);
            Span<byte> zeros = stackalloc byte[64];
            while (stream.Position < target)
            {
                int n = (int)Math.Min(zeros.Length, target - stream.Position);
                Append(zeros[..n]);
            }
        }

        public void Append(ReadOnlySpan<byte> data)
        {
            stream.Write(data);
            Crc = Crc32C.Append(Crc, data);
        }

        public void Begin()
        {
            Pad(ForestHeader.Alignment);
            _sectionStart = stream.Position;
        }

        public void End(ref ForestHeader header, ForestSection section) =>
            header.SetSection(section, (ulong)_sectionStart, (ulong)(stream.Position - _sectionStart));

        public void Section(ref ForestHeader header, ForestSection section, ReadOnlySpan<byte> data)
        {
            Begin();
            Append(data);
            End(ref header, section);
        }
    }

    /// <summary>One tree: recursive two-means splits over a permutation of the items; leaves are ranges of it.</summary>
    private sealed class TreeBuilder(float[] points, int count, int stride, int dims, int padded, ForestOptions options, int seed)
    {
        private readonly Random _rng = new(seed);
        private readonly float[] _margins = new float[count];
        private readonly float[] _c0 = new float[stride];
        private readonly float[] _c1 = new float[stride];
        private readonly float[] _sum0 = new float[stride];
        private readonly float[] _sum1 = new float[stride];
        private readonly int[] _sample = new int[Math.Min(options.SplitSample, count)];
        private readonly float[] _weights = new float[Math.Min(options.SplitSample, count)];

        public readonly int[] Order = Enumerable.Range(0, count).ToArray();
        public readonly List<Node> Nodes = [];
        public readonly List<(int Start, int Length)> Leaves = [];
        public int Root;

        public sealed record Node(sbyte[] NormalCodes, float Scale, float Offset)
        {
            public int Left;
            public int Right;
        }

        public void Build() => Root = Split(0, count, 0);

        private int Split(int lo, int hi, int depth)
        {
            int n = hi - lo;
            if (n <= options.LeafSize)
            {
                Leaves.Add((lo, n));
                return ~(Leaves.Count - 1);
            }
            var normal = new sbyte[padded];
            float scale = 0f, offset = 0f;
            int mid = depth < 256 ? TwoMeansSplit(lo, hi, normal, ref scale, ref offset) : -1;
            if (mid <= lo || mid >= hi)
            {
                // Degenerate (all points equal, or pathological depth): halve the range. A zero normal gives every query
                // margin 0, so both halves are searched at once, which is right for indistinguishable points.
                Array.Clear(normal);
                scale = offset = 0f;
                mid = lo + n / 2;
            }
            int index = Nodes.Count;
            var node = new Node(normal, scale, offset);
            Nodes.Add(node);
            node.Left = Split(lo, mid, depth + 1);
            node.Right = Split(mid, hi, depth + 1);
            return index;
        }

        private unsafe float Project(float* normal, float offset, int item)
        {
            fixed (float* p = &points[(long)item * stride]) return VectorMath.DotPadded(normal, p, stride) + offset;
        }

        /// <summary>Two-means on a sample (k-means++ start, a few Lloyd rounds), then partitions [lo, hi) by the
        /// perpendicular bisector of the two means. Returns the first index of the right side.</summary>
        private unsafe int TwoMeansSplit(int lo, int hi, sbyte[] normalCodes, ref float normalScale, ref float offset)
        {
            int n = hi - lo;
            int m = Math.Min(_sample.Length, n);
            for (int s = 0; s < m; s++) _sample[s] = Order[lo + _rng.Next(n)];
            var c0 = _c0.AsSpan();
            var c1 = _c1.AsSpan();
            points.AsSpan(_sample[_rng.Next(m)] * stride, stride).CopyTo(c0);
            double total = 0;
            for (int s = 0; s < m; s++)
            {
                float d = DistanceSquared(points.AsSpan(_sample[s] * stride, stride), c0);
                _weights[s] = d;
                total += d;
            }
            if (total <= 0) return -1;
            double pick = _rng.NextDouble() * total;
            int chosen = m - 1;
            for (int s = 0; s < m; s++)
            {
                pick -= _weights[s];
                if (pick <= 0) { chosen = s; break; }
            }
            points.AsSpan(_sample[chosen] * stride, stride).CopyTo(c1);

            for (int round = 0; round < 6; round++)
            {
                _sum0.AsSpan().Clear();
                _sum1.AsSpan().Clear();
                int n0 = 0, n1 = 0;
                for (int s = 0; s < m; s++)
                {
                    var p = points.AsSpan(_sample[s] * stride, stride);
                    if (DistanceSquared(p, c0) <= DistanceSquared(p, c1)) { Add(_sum0, p); n0++; }
                    else { Add(_sum1, p); n1++; }
                }
                if (n0 == 0 || n1 == 0) break;
                for (int j = 0; j < stride; j++) { c0[j] = _sum0[j] / n0; c1[j] = _sum1[j] / n1; }
            }

            var normal = new float[stride];
            for (int j = 0; j < stride; j++) normal[j] = c1[j] - c0[j];
            if (VectorMath.NormalizeInPlace(normal) <= 1e-12f) return -1;
            // Queries see only the first `dims` components, as int8 codes: quantize them here and split the items with
            // the dequantized normal, so both sides agree on the hyperplane. (Dot's extra component is build-only.)
            float scale = VectorMath.QuantizeInt8(normal.AsSpan(0, dims), normalCodes);
            for (int j = 0; j < dims; j++) normal[j] = normalCodes[j] * scale;
            float b = 0f;
            for (int j = 0; j < stride; j++) b -= normal[j] * 0.5f * (c0[j] + c1[j]);

            int right = 0;
            fixed (float* pn = normal)
            {
                for (int i = lo; i < hi; i++)
                {
                    float margin = Project(pn, b, Order[i]);
                    _margins[i] = margin;
                    if (margin > 0f) right++;
                }
            }
            int minSide = (int)(options.MinSplitFraction * n);
            if (right < Math.Max(1, minSide) || n - right < Math.Max(1, minSide))
            {
                // Too lopsided: keep the direction, move the threshold to the quantile that leaves minSide on the small side.
                var sorted = _margins.AsSpan(lo, n).ToArray();
                Array.Sort(sorted);
                int leftCount = right < n - right ? n - Math.Max(1, minSide) : Math.Max(1, minSide);
                float threshold = 0.5f * (sorted[leftCount - 1] + sorted[leftCount]);
                if (!(sorted[leftCount - 1] < threshold && threshold < sorted[leftCount])) return -1; // ties: no clean cut
                b -= threshold;
                right = 0;
                for (int i = lo; i < hi; i++)
                {
                    _margins[i] -= threshold;
                    if (_margins[i] > 0f) right++;
                }
            }

            // Partition Order[lo, hi) so margins <= 0 come first (same rule the query uses: margin > 0 goes right).
            int a = lo, z = hi - 1;
            while (a <= z)
            {
                if (_margins[a] <= 0f) { a++; continue; }
                (Order[a], Order[z]) = (Order[z], Order[a]);
                (_margins[a], _margins[z]) = (_margins[z], _margins[a]);
                z--;
            }
            normalScale = scale;
            offset = b;
            return a;
        }

        private static float DistanceSquared(ReadOnlySpan<float> a, ReadOnlySpan<float> b) =>
            System.Numerics.Tensors.TensorPrimitives.Distance(a, b) is var d ? d * d : 0f;

        private static void Add(float[] sum, ReadOnlySpan<float> p) => System.Numerics.Tensors.TensorPrimitives.Add(sum, p, sum);
    }
}
