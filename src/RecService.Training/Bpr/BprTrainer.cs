using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Core.Vectors;
using RecService.Training.Als;

namespace RecService.Training.Bpr;

/// <summary>Bayesian personalised ranking (Rendle et al. 2009) by stochastic gradient ascent.</summary>
public sealed record BprOptions
{
    public int Factors { get; init; } = 64;
    /// <summary>Passes; each draws as many (user, played, unplayed) triples as the matrix has non-zeros.</summary>
    public int Epochs { get; init; } = 30;
    public float LearningRate { get; init; } = 0.05f;
    /// <summary>L2 weight on the vectors and biases a step touches.</summary>
    public float Regularization { get; init; } = 0.002f;
    public ulong Seed { get; init; } = 42;
    /// <summary>0 = one per core. With one thread the result depends only on the seed; with more, threads update
    /// shared vectors without locks (Hogwild) and results differ in the last bits from run to run.</summary>
    public int Threads { get; init; }

    public int EffectiveThreads => Threads > 0 ? Threads : Environment.ProcessorCount;

    public void Validate()
    {
        if (Factors is < 1 or > 4096) throw new ArgumentOutOfRangeException(nameof(Factors), Factors, "Factors must be in [1, 4096].");
        if (Epochs is < 1 or > 10_000) throw new ArgumentOutOfRangeException(nameof(Epochs), Epochs, "Epochs must be in [1, 10000].");
        if (!(LearningRate > 0 && LearningRate <= 1)) throw new ArgumentOutOfRangeException(nameof(LearningRate), LearningRate, "LearningRate must be in (0, 1].");
        if (!(Regularization >= 0 && Regularization < 1)) throw new ArgumentOutOfRangeException(nameof(Regularization), Regularization, "Regularization must be in [0, 1).");
        if (Threads < 0) throw new ArgumentOutOfRangeException(nameof(Threads), Threads, "Threads must be 0 (all cores) or more.");
    }
}

/// <summary>
/// A BPR model with the item bias folded in as the last factor: user rows end in 1 and item rows in the bias, so
/// x_u . y_i is the full score and the same dot-product forest and evaluation serve it as serve ALS.
/// </summary>
public sealed class BprModel(int users, int items, int factors, float[] userFactors, float[] itemFactors, double seconds)
{
    public int Users { get; } = users;
    public int Items { get; } = items;
    /// <summary>Row length: the learned factors plus the bias column.</summary>
    public int Factors { get; } = factors;
    public float[] UserFactors { get; } = userFactors;
    public float[] ItemFactors { get; } = itemFactors;
    public double Seconds { get; } = seconds;

    /// <summary>The same rows as a factor model (what evaluation and the bundle take).</summary>
    public AlsModel AsFactorModel() => new(Users, Items, Factors, UserFactors, ItemFactors);
}

/// <summary>
/// Fits BPR on a users x items matrix of plays (any positive value is a preference; the count is not used): each
/// step takes a played (user, item) uniformly over the non-zeros, an item the user has not played uniformly over the
/// catalog, and moves both items and the user so that the played one scores higher.
/// </summary>
public sealed class BprTrainer(BprOptions options)
{
    public BprOptions Options { get; } = options;

    public BprModel Fit(CsrMatrix plays, CancellationToken cancellationToken = default)
    {
        Options.Validate();
        var clock = Stopwatch.StartNew();
        var f = Options.Factors;
        var width = f + 1;
        var users = new float[checked(plays.Rows * width)];
        var items = new float[checked(plays.Columns * width)];
        // Small random starts (row r depends only on (seed, side, r)); the user's bias column is the constant 1 and
        // the item's starts at 0.
        for (var u = 0; u < plays.Rows; u++) Initialise(users.AsSpan(u * width, width), 0, (ulong)u, 1f);
        for (var i = 0; i < plays.Columns; i++) Initialise(items.AsSpan(i * width, width), 1, (ulong)i, 0f);
        if (plays.NonZeros > 0 && plays.Columns > 1)
        {
            var threads = Math.Min(Options.EffectiveThreads, Math.Max(1, plays.NonZeros / 10_000));
            // The row of each non-zero, so a uniform non-zero gives its user without a search.
            var rowOf = new int[plays.NonZeros];
            for (var u = 0; u < plays.Rows; u++) rowOf.AsSpan(plays.RowPointers[u], plays.RowLength(u)).Fill(u);
            var steps = plays.NonZeros;
            for (var epoch = 0; epoch < Options.Epochs; epoch++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var e = epoch;
                var share = (steps + threads - 1) / threads;
                if (threads == 1) Epoch(plays, rowOf, users, items, steps, StreamOf(e, 0));
                else
                    Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads, CancellationToken = cancellationToken },
                        t => Epoch(plays, rowOf, users, items, Math.Min(share, steps - t * share), StreamOf(e, t)));
            }
        }
        return new BprModel(plays.Rows, plays.Columns, width, users, items, clock.Elapsed.TotalSeconds);

        ulong StreamOf(int epoch, int thread) => 0xB9_0000_0000UL + (ulong)epoch * 65_536 + (ulong)thread;
    }

    private void Initialise(Span<float> row, int side, ulong index, float last)
    {
        var rng = new Xoshiro256(Options.Seed, ((ulong)side << 56) ^ index);
        var scale = 0.1f / MathF.Sqrt(Options.Factors);
        for (var i = 0; i < row.Length - 1; i++) row[i] = (float)(rng.NextGaussian() * scale);
        row[^1] = last;
    }

    // Draws run this many steps ahead of their step so the random rows they name can be fetched meanwhile: the
    // non-zero's row and column a full lead ahead, then the user's and items' vectors half a lead ahead.
    private const int Lead = 8;

    private void Epoch(CsrMatrix plays, int[] rowOf, float[] users, float[] items, int steps, ulong stream)
    {
        var rng = new Xoshiro256(Options.Seed, stream);
        var width = Options.Factors + 1;
        var f = Options.Factors;
        var lr = Options.LearningRate;
        var decay = 1f - lr * Options.Regularization;
        var nonZeros = plays.NonZeros;
        var columns = plays.Columns;
        var columnIndices = plays.ColumnIndices;
        var difference = new float[width];
        // Each step's non-zero and first negative candidate, drawn Lead steps before it.
        var drawn = new (int NonZero, int Negative)[Lead];
        ref var x0 = ref MemoryMarshal.GetArrayDataReference(users);
        ref var y0 = ref MemoryMarshal.GetArrayDataReference(items);
        ref var d = ref MemoryMarshal.GetArrayDataReference(difference);
        for (var s = 0; s < Math.Min(Lead, steps); s++) drawn[s] = Draw(ref rng);
        var vectorEnd = Vector256.IsHardwareAccelerated ? f - f % Vector256<float>.Count : 0;
        var vstep = Vector256<float>.Zero;
        var vdecay = Vector256.Create(decay);
        for (var s = 0; s < steps; s++)
        {
            var (z, negative) = drawn[s % Lead];
            if (s + Lead < steps) drawn[s % Lead] = Draw(ref rng);
            if (s + Lead / 2 < steps)
            {
                var (zAhead, negativeAhead) = drawn[(s + Lead / 2) % Lead];
                var userAhead = rowOf[zAhead];
                VectorMath.Prefetch(in Unsafe.Add(ref x0, (nint)userAhead * width), width);
                VectorMath.Prefetch(in Unsafe.Add(ref y0, (nint)columnIndices[zAhead] * width), width);
                VectorMath.Prefetch(in Unsafe.Add(ref y0, (nint)negativeAhead * width), width);
            }
            var user = rowOf[z];
            var positive = columnIndices[z];
            var played = plays.RowIndices(user);
            // A user who played nearly everything could loop: a bounded number of draws, then the step is skipped.
            var tries = 0;
            while (played.BinarySearch(negative) >= 0 && ++tries < 16) negative = rng.NextInt(columns);
            if (tries == 16) continue;
            ref var x = ref Unsafe.Add(ref x0, (nint)user * width);
            ref var yi = ref Unsafe.Add(ref y0, (nint)positive * width);
            ref var yj = ref Unsafe.Add(ref y0, (nint)negative * width);
            // d = y_i - y_j over the factors and the bias column (the user's 1 turns it into b_i - b_j).
            var k = 0;
            for (; k < vectorEnd; k += Vector256<float>.Count)
                (Vector256.LoadUnsafe(ref yi, (nuint)k) - Vector256.LoadUnsafe(ref yj, (nuint)k)).StoreUnsafe(ref d, (nuint)k);
            for (; k < width; k++) Unsafe.Add(ref d, k) = Unsafe.Add(ref yi, k) - Unsafe.Add(ref yj, k);
            var margin = VectorKernels.Dot(ref x, ref d, width);
            // Gradient of ln sigmoid(margin): sigmoid(-margin).
            var g = margin > 30f ? 0f : 1f / (1f + MathF.Exp(margin));
            var step = lr * g;
            // Items move along x (their bias by the step itself); then x along d; all shrink by the L2 decay. The
            // user's bias column stays 1.
            if (vectorEnd > 0) vstep = Vector256.Create(step);
            for (k = 0; k < vectorEnd; k += Vector256<float>.Count)
            {
                var xk = Vector256.LoadUnsafe(ref x, (nuint)k);
                Vector256.FusedMultiplyAdd(vstep, xk, Vector256.LoadUnsafe(ref yi, (nuint)k) * vdecay).StoreUnsafe(ref yi, (nuint)k);
                Vector256.FusedMultiplyAdd(-vstep, xk, Vector256.LoadUnsafe(ref yj, (nuint)k) * vdecay).StoreUnsafe(ref yj, (nuint)k);
                Vector256.FusedMultiplyAdd(vstep, Vector256.LoadUnsafe(ref d, (nuint)k), xk * vdecay).StoreUnsafe(ref x, (nuint)k);
            }
            for (; k < f; k++)
            {
                var xk = Unsafe.Add(ref x, k);
                Unsafe.Add(ref yi, k) = MathF.FusedMultiplyAdd(step, xk, Unsafe.Add(ref yi, k) * decay);
                Unsafe.Add(ref yj, k) = MathF.FusedMultiplyAdd(-step, xk, Unsafe.Add(ref yj, k) * decay);
                Unsafe.Add(ref x, k) = MathF.FusedMultiplyAdd(step, Unsafe.Add(ref d, k), xk * decay);
            }
            Unsafe.Add(ref yi, f) = Unsafe.Add(ref yi, f) * decay + step;
            Unsafe.Add(ref yj, f) = Unsafe.Add(ref yj, f) * decay - step;
        }

        (int NonZero, int Negative) Draw(ref Xoshiro256 random)
        {
            var nonZero = random.NextInt(nonZeros);
            var negative = random.NextInt(columns);
            // The user and item this step will need: fetched now, read half a lead later.
            VectorMath.Prefetch(in Unsafe.As<int, float>(ref rowOf[nonZero]), 1);
            VectorMath.Prefetch(in Unsafe.As<int, float>(ref columnIndices[nonZero]), 1);
            return (nonZero, negative);
        }
    }
}
