using RecService.Core.Bundle;
using RecService.Core.Forest;
using RecService.Core.Vectors;

namespace RecService.Models.Als;

/// <summary>
/// The serving view of an opened ALS part: user and item factors, Y^T Y, the forests, and the typed parameters, resolved
/// from the part once (<see cref="Of"/>). Optional pieces (the artists part has no user factors) throw when asked for
/// and absent; <c>Has*</c> says which there are.
/// </summary>
public sealed unsafe class AlsPart
{
    private readonly MappedMatrix? _userFactors;
    private readonly MappedMatrix? _gram;
    private readonly ForestIndex? _dot;
    private readonly ForestIndex? _cosine;

    [ThreadStatic] private static float[]? t_candidateRows;

    private AlsPart(BundlePart part)
    {
        if (part.Family != AlsFamily.Name) throw new InvalidDataException($"Part {part.Name} is of family {part.Family}, not {AlsFamily.Name}.");
        Part = part;
        Parameters = part.Parameters<AlsParameters>();
        ItemFactors = part.ItemFactors;
        part.Matrices.TryGetValue(PartRoles.UserFactors, out _userFactors);
        part.Extras.TryGetValue(PartRoles.Gram, out _gram);
        part.Forests.TryGetValue(PartRoles.Dot, out _dot);
        part.Forests.TryGetValue(PartRoles.Cosine, out _cosine);
    }

    /// <summary>The view of <paramref name="part"/>, made once per part.</summary>
    public static AlsPart Of(BundlePart part) => part.View(static p => new AlsPart(p));

    public BundlePart Part { get; }
    public string Name => Part.Name;
    public AlsParameters Parameters { get; }
    public MappedMatrix ItemFactors { get; }
    public int Items => ItemFactors.Rows;
    public int Factors => ItemFactors.Columns;

    public bool HasUserFactors => _userFactors is not null;
    public MappedMatrix UserFactors => _userFactors ?? throw Missing(PartRoles.UserFactors);
    public bool HasGram => _gram is not null;
    /// <summary>Y^T Y of the item factors (Factors x Factors, row-major).</summary>
    public ReadOnlySpan<float> Gram => new((_gram ?? throw Missing(PartRoles.Gram)).Data, Factors * Factors);
    public bool HasDot => _dot is not null;
    /// <summary>Inner-product forest over the items (a user's recommendations).</summary>
    public ForestIndex DotForest => _dot ?? throw Missing(PartRoles.Dot);
    public bool HasCosine => _cosine is not null;
    /// <summary>Cosine forest over the items (similar items).</summary>
    public ForestIndex CosineForest => _cosine ?? throw Missing(PartRoles.Cosine);

    /// <summary>Every item vector, row-major (Items x Factors).</summary>
    public ReadOnlySpan<float> AllItemFactors => ItemFactors.All;

    /// <summary>One exact half-step for a user with these plays (<see cref="AlsFoldIn.Solve"/>).</summary>
    public bool FoldIn(ReadOnlySpan<int> items, ReadOnlySpan<float> plays, Span<float> x) => AlsFoldIn.Solve(this, items, plays, x);

    /// <summary>Starts loading the item vectors <see cref="ClosestByCosine"/> reads for <paramref name="items"/>; out-of-range items are ignored.</summary>
    public void Prefetch(ReadOnlySpan<int> items)
    {
        foreach (var item in items)
            if ((uint)item < (uint)Items) VectorMath.Prefetch(ItemFactors.Row(item));
    }

    /// <summary>
    /// The explanation hook: for each of <paramref name="targets"/>, the item of <paramref name="candidates"/> closest to
    /// it by cosine, into <paramref name="closest"/> (a target among the candidates is its own closest). Needs the cosine
    /// forest, which stores 1/|y| for every item. Per-thread buffers; nothing allocated.
    /// </summary>
    public void ClosestByCosine(ReadOnlySpan<int> candidates, ReadOnlySpan<int> targets, Span<int> closest)
    {
        var factors = ItemFactors;
        var cosine = CosineForest;
        var dims = factors.Columns;
        // The candidates' rows packed together, so one kernel call scores a target against all of them.
        var rows = t_candidateRows is { } b && b.Length >= candidates.Length * dims ? b : t_candidateRows = new float[Math.Max(candidates.Length * dims, 64)];
        Span<float> inverseNorms = stackalloc float[candidates.Length];
        for (var i = 0; i < candidates.Length; i++)
        {
            factors.Row(candidates[i]).CopyTo(rows.AsSpan(i * dims, dims));
            inverseNorms[i] = cosine.InverseNorm(candidates[i]);
        }
        var packed = rows.AsSpan(0, candidates.Length * dims);
        // The targets' rows lie anywhere in the matrix: requested together, their misses overlap.
        Prefetch(targets);
        Span<float> dots = stackalloc float[candidates.Length];
        for (var r = 0; r < targets.Length; r++)
        {
            var target = targets[r];
            // A target among the candidates is its own answer (cosine 1, the best possible): no dot products.
            if (candidates.Contains(target))
            {
                closest[r] = target;
                continue;
            }
            VectorMath.DotRows(factors.Row(target), packed, dots);
            var best = -1;
            var bestScore = float.NegativeInfinity;
            for (var i = 0; i < candidates.Length; i++)
            {
                // Cosine up to the target's norm, which is common to all candidates.
                var score = dots[i] * inverseNorms[i];
                if (score > bestScore)
                {
                    bestScore = score;
                    best = candidates[i];
                }
            }
            closest[r] = best;
        }
    }

    private InvalidOperationException Missing(string role) => new($"ALS part {Name} has no {role}.");
}

/// <summary>
/// The two ALS parts a replica serves from, resolved by name once per bundle (<see cref="Of"/>): <c>tracks</c> (users x
/// tracks: user factors, Y^T Y, dot and cosine forests) and <c>artists</c> (users x artists: artist factors and a cosine forest).
/// </summary>
public sealed class AlsParts
{
    public const string TracksPart = "tracks";
    public const string ArtistsPart = "artists";

    private AlsParts(ModelBundle bundle)
    {
        _bundle = bundle;
        Tracks = AlsPart.Of(bundle.Part(TracksPart));
        Artists = AlsPart.Of(bundle.Part(ArtistsPart));
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{bundle.Directory}: {what}.");
        }
        Require(Tracks.Part.Entry.Items == IdSpaces.Tracks && Tracks.Part.Entry.Rows == IdSpaces.Users, "part tracks is not users x tracks");
        Require(Tracks.HasUserFactors && Tracks.HasGram && Tracks.HasDot && Tracks.HasCosine, "part tracks needs user factors, a Gram matrix, and dot and cosine forests");
        Require(Artists.Part.Entry.Items == IdSpaces.Artists, "part artists is not over artists");
        Require(Artists.HasCosine, "part artists needs a cosine forest");
    }

    /// <summary>The parts of <paramref name="bundle"/>, made once per bundle; throws <see cref="InvalidDataException"/> when it lacks them.</summary>
    public static AlsParts Of(ModelBundle bundle)
    {
        // A replica serves one bundle at a time and a Recommend asks for its parts several times: a one-entry memo
        // answers with a reference compare, where the bundle's view lookup is a type test in shared generic code.
        var last = Volatile.Read(ref s_last);
        if (last is not null && ReferenceEquals(last._bundle, bundle)) return last;
        last = bundle.View(static b => new AlsParts(b));
        Volatile.Write(ref s_last, last);
        return last;
    }

    private static AlsParts? s_last;
    private readonly ModelBundle _bundle;

    public AlsPart Tracks { get; }
    public AlsPart Artists { get; }
}
