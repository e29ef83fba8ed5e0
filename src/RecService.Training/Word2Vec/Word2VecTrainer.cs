using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RecService.Core.Sampling;
using RecService.Core.Vectors;
using RecService.Training.Als;

namespace RecService.Training.Word2Vec;

/// <summary>What one training run did.</summary>
/// <param name="TokensRead">Tokens passed over, all epochs (before down-sampling): the reference tool's "words".</param>
/// <param name="TokensTrained">Tokens kept after down-sampling, all epochs.</param>
/// <param name="Pairs">(token, context) pairs trained.</param>
/// <param name="Seconds">Wall-clock training time (setup included).</param>
/// <param name="Threads">Threads that trained.</param>
public readonly record struct Word2VecStats(long TokensRead, long TokensTrained, long Pairs, double Seconds, int Threads)
{
    /// <summary>Tokens read per second per thread, the figure the reference tool prints.</summary>
    public double TokensPerSecondPerThread => Seconds > 0 ? TokensRead / Seconds / Threads : 0;
}

/// <summary>Trained embeddings: one row of <see cref="Dimensions"/> floats per token (the input vectors), row-major.</summary>
public sealed class Word2VecModel(int vocabulary, int dimensions, float[] vectors, long[] counts, Word2VecStats stats)
{
    public int Vocabulary { get; } = vocabulary;
    public int Dimensions { get; } = dimensions;
    /// <summary>Vocabulary x Dimensions. A token that never occurred keeps a zero row.</summary>
    public float[] Vectors { get; } = vectors;
    /// <summary>Occurrences of each token in the corpus.</summary>
    public long[] Counts { get; } = counts;
    public Word2VecStats Stats { get; } = stats;
    public ReadOnlySpan<float> Vector(int token) => Vectors.AsSpan(token * Dimensions, Dimensions);
}

/// <summary>
/// Skip-gram with negative sampling over token sequences, as in Mikolov et al. (2013): for each kept token and each
/// context token within a randomly shrunk window, the context's input vector is pulled towards the token's output
/// vector and pushed from <see cref="Word2VecOptions.Negatives"/> noise tokens' output vectors. Threads each take a
/// balanced range of sequences and update the shared input vectors without locks; each updates its own copy of the
/// output vectors and folds its changes into the shared ones every <see cref="MergeTokens"/> tokens. WORD2VEC.md has
/// the details.
/// </summary>
public sealed partial class Word2VecTrainer(Word2VecOptions options)
{
    public Word2VecOptions Options { get; } = options;

    // The logistic function is read from a table over [-MaxLogit, MaxLogit]: beyond it the gradient is saturated.
    private const float MaxLogit = 6f;
    private const int SigmoidTableSize = 1024;
    // Progress (which sets the decaying step size) is published to the other threads every this many tokens.
    private const int ProgressBatch = 8192;
    /// <summary>With several threads, each folds its output-vector changes into the shared ones and takes the others'
    /// after reading this many tokens: every noise draw writes a popular output row, and threads writing the same rows
    /// of one matrix spend most of their time passing cache lines between cores.</summary>
    public const int MergeTokens = 65_536;

    public Word2VecModel Fit(TokenSequences corpus, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        var clock = Stopwatch.StartNew();
        var d = Options.Dimensions;
        var vocabulary = corpus.Vocabulary;
        var counts = corpus.Counts();
        var vectors = new float[checked(vocabulary * d)];
        var threads = Options.EffectiveThreads;
        if (corpus.TokenCount == 0 || vocabulary == 0)
            return new Word2VecModel(vocabulary, d, vectors, counts, new Word2VecStats(0, 0, 0, clock.Elapsed.TotalSeconds, threads));

        var ranges = corpus.BalancedRanges(threads);
        var parts = ranges.Length - 1;
        var run = new Run(Options, corpus, counts, vectors, parts);
        for (var epoch = 0; epoch < Options.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var e = epoch;
            if (parts == 1) run.TrainRange(0, corpus.Count, StreamOf(e, 0), cancellationToken);
            else
                Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken },
                    p => run.TrainRange(ranges[p], ranges[p + 1], StreamOf(e, p), cancellationToken, p));
        }
        // Tokens never seen keep their random start: zero them so no one mistakes noise for an embedding.
        for (var t = 0; t < vocabulary; t++)
            if (counts[t] == 0) vectors.AsSpan(t * d, d).Clear();
        return new Word2VecModel(vocabulary, d, vectors, counts,
            new Word2VecStats(run.TokensRead, run.TokensTrained, run.Pairs, clock.Elapsed.TotalSeconds, Math.Min(threads, parts)));

        ulong StreamOf(int epoch, int part) => (ulong)epoch * 65_536 + (ulong)part;
    }

    /// <summary>The shared state of one training run: vectors, tables, progress.</summary>
    private sealed class Run
    {
        private readonly Word2VecOptions _options;
        private readonly TokenSequences _corpus;
        private readonly float[] _input;
        private readonly float[] _output;
        // With several threads, each thread's own output vectors.
        private readonly MergedCopies? _outputCopies;
        private readonly uint[] _keep;
        private readonly AliasTable _noise;
        private readonly float[] _sigmoid;
        private readonly double _totalTokens;
        private long _progress;
        private long _tokensRead, _tokensTrained, _pairs;

        public Run(Word2VecOptions options, TokenSequences corpus, long[] counts, float[] input, int parts)
        {
            _options = options;
            _corpus = corpus;
            _input = input;
            var d = options.Dimensions;
            _output = new float[input.Length];
            // All start at zero, like the shared output vectors.
            _outputCopies = parts > 1 ? new MergedCopies(_output, parts) : null;
            // Input vectors start uniform in (-0.5/d, 0.5/d), output vectors at zero, as in the reference tool; row t
            // depends only on (seed, t).
            for (var t = 0; t < corpus.Vocabulary; t++)
            {
                var rng = new Xoshiro256(options.Seed, 0x5EED_0000_0000UL + (ulong)t);
                var row = input.AsSpan(t * d, d);
                for (var i = 0; i < d; i++) row[i] = (float)((rng.NextDouble() - 0.5) / d);
            }
            _keep = KeepThresholds(counts, corpus.TokenCount, options.Subsample);
            var weights = new double[counts.Length];
            for (var t = 0; t < counts.Length; t++) weights[t] = counts[t] > 0 ? Math.Pow(counts[t], options.NoisePower) : 0;
            _noise = new AliasTable(weights);
            _sigmoid = new float[SigmoidTableSize + 1];
            for (var i = 0; i <= SigmoidTableSize; i++)
            {
                var x = (i / (double)SigmoidTableSize * 2 - 1) * MaxLogit;
                _sigmoid[i] = (float)(1 / (1 + Math.Exp(-x)));
            }
            _totalTokens = (double)corpus.TokenCount * options.Epochs;
        }

        public long TokensRead => Interlocked.Read(ref _tokensRead);
        public long TokensTrained => Interlocked.Read(ref _tokensTrained);
        public long Pairs => Interlocked.Read(ref _pairs);

        /// <summary>Per-token keep probability as a 32-bit threshold (keep when a random uint is below it).</summary>
        private static uint[] KeepThresholds(long[] counts, long total, double subsample)
        {
            var keep = new uint[counts.Length];
            for (var t = 0; t < counts.Length; t++)
            {
                double p = 1;
                if (subsample > 0 && counts[t] > 0)
                {
                    var scaled = subsample * total / counts[t]; // t / f
                    p = (Math.Sqrt(1 / scaled) + 1) * scaled;
                }
                keep[t] = p >= 1 ? uint.MaxValue : (uint)(p * 4294967296.0);
            }
            return keep;
        }

        public void TrainRange(int first, int end, ulong stream, CancellationToken cancellationToken, int part = 0)
        {
            var copies = _outputCopies;
            var output = copies?.Copy(part) ?? _output;
            copies?.Merge(part);
            long unmerged = 0;
            var rng = new Xoshiro256(_options.Seed, stream);
            var d = _options.Dimensions;
            var kept = new int[Math.Max(1, _corpus.Longest(first, end))];
            var gradient = new float[d];
            var noise = new int[_options.Negatives];
            var logits = new float[_options.Negatives + 1];
            long read = 0, trained = 0, pairs = 0, unpublished = 0;
            var rate = StepSize(Interlocked.Read(ref _progress));
            for (var s = first; s < end; s++)
            {
                var sequence = _corpus[s];
                var n = 0;
                foreach (var token in sequence)
                    if (_keep[token] == uint.MaxValue || (uint)rng.NextUInt64() < _keep[token]) kept[n++] = token;
                read += sequence.Length;
                trained += n;
                unpublished += sequence.Length;
                unmerged += sequence.Length;
                if (unpublished >= ProgressBatch)
                {
                    rate = StepSize(Interlocked.Add(ref _progress, unpublished));
                    unpublished = 0;
                    cancellationToken.ThrowIfCancellationRequested();
                }
                if (n > 1) pairs += TrainSequence(kept.AsSpan(0, n), output, rate, gradient, noise, logits, ref rng);
                if (copies is not null && unmerged >= MergeTokens)
                {
                    copies.Merge(part);
                    unmerged = 0;
                }
            }
            copies?.Merge(part);
            Interlocked.Add(ref _progress, unpublished);
            Interlocked.Add(ref _tokensRead, read);
            Interlocked.Add(ref _tokensTrained, trained);
            Interlocked.Add(ref _pairs, pairs);
        }

        private float StepSize(long progress)
        {
            var fraction = Math.Max(_options.MinLearningRateFraction, 1 - progress / _totalTokens);
            return (float)(_options.LearningRate * fraction);
        }

        /// <summary>Every (token, context) pair of one down-sampled sequence; returns the pair count.</summary>
        private long TrainSequence(ReadOnlySpan<int> tokens, float[] outputVectors, float rate, float[] gradient, int[] noise, float[] logits, ref Xoshiro256 rng)
        {
            var d = _options.Dimensions;
            var window = _options.Window;
            long pairs = 0;
            ref var input = ref MemoryMarshal.GetArrayDataReference(_input);
            ref var output = ref MemoryMarshal.GetArrayDataReference(outputVectors);
            ref var grad = ref MemoryMarshal.GetArrayDataReference(gradient);
            for (var i = 0; i < tokens.Length; i++)
            {
                var center = tokens[i];
                var reach = window - rng.NextInt(window); // in [1, window]: near contexts count more, as in the reference tool
                var from = Math.Max(0, i - reach);
                var to = Math.Min(tokens.Length - 1, i + reach);
                for (var j = from; j <= to; j++)
                {
                    if (j == i) continue;
                    ref var context = ref Unsafe.Add(ref input, (nint)tokens[j] * d);
                    TrainPair(ref context, ref output, center, rate, ref grad, noise, logits, d, ref rng);
                    pairs++;
                }
            }
            return pairs;
        }

        /// <summary>
        /// One pair: the logistic loss of the true token and <see cref="Word2VecOptions.Negatives"/> noise tokens against
        /// the context's input vector; output vectors move at once, the input vector by the summed gradient at the end.
        /// The noise tokens are drawn first and their rows prefetched, so their cache misses overlap; all the logits are
        /// taken before any row moves, so the dot products run side by side instead of each waiting for the last
        /// update (a noise token drawn twice in one pair is scored once for both draws).
        /// </summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private void TrainPair(ref float context, ref float output, int center, float rate, ref float grad, int[] noise, float[] logits, int d, ref Xoshiro256 rng)
        {
            for (var k = 0; k < noise.Length; k++)
            {
                var target = _noise.Sample(rng.NextUInt64());
                noise[k] = target;
                VectorMath.Prefetch(in Unsafe.Add(ref output, (nint)target * d), d);
            }
            logits[0] = VectorKernels.Dot(ref context, ref Unsafe.Add(ref output, (nint)center * d), d);
            for (var k = 0; k < noise.Length; k++)
                logits[k + 1] = VectorKernels.Dot(ref context, ref Unsafe.Add(ref output, (nint)noise[k] * d), d);
            ClearVector(ref grad, d);
            Update(ref context, ref Unsafe.Add(ref output, (nint)center * d), Gradient(logits[0], 1f, rate), ref grad, d);
            for (var k = 0; k < noise.Length; k++)
                if (noise[k] != center) Update(ref context, ref Unsafe.Add(ref output, (nint)noise[k] * d), Gradient(logits[k + 1], 0f, rate), ref grad, d);
            VectorKernels.MultiplyAdd(ref context, ref grad, 1f, d);
        }

        /// <summary>The log-likelihood's gradient for one target, saturated outside the table, times the step size.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private float Gradient(float logit, float label, float rate) =>
            (logit > MaxLogit ? label - 1f : logit < -MaxLogit ? label : label - Sigmoid(logit)) * rate;

        /// <summary>One target's term: its output row moves along the context, and the context's gradient along the row
        /// as it was, in one pass over both.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void Update(ref float context, ref float row, float g, ref float grad, int d)
        {
            var i = 0;
            if (Vector256.IsHardwareAccelerated)
            {
                var vg = Vector256.Create(g);
                for (; i <= d - Vector256<float>.Count; i += Vector256<float>.Count)
                {
                    var r = Vector256.LoadUnsafe(ref row, (nuint)i);
                    Vector256.FusedMultiplyAdd(r, vg, Vector256.LoadUnsafe(ref grad, (nuint)i)).StoreUnsafe(ref grad, (nuint)i);
                    Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref context, (nuint)i), vg, r).StoreUnsafe(ref row, (nuint)i);
                }
            }
            for (; i < d; i++)
            {
                var r = Unsafe.Add(ref row, i);
                Unsafe.Add(ref grad, i) = MathF.FusedMultiplyAdd(r, g, Unsafe.Add(ref grad, i));
                Unsafe.Add(ref row, i) = MathF.FusedMultiplyAdd(Unsafe.Add(ref context, i), g, r);
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private static void ClearVector(ref float v, int d) => MemoryMarshal.CreateSpan(ref v, d).Clear();

        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        private float Sigmoid(float logit) => _sigmoid[(int)((logit + MaxLogit) * (SigmoidTableSize / (2 * MaxLogit)))];
    }
}
