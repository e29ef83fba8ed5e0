using System.Buffers;
using System.Numerics.Tensors;
using RecService.Core.Bundle;
using RecService.Core.Vectors;
using RecService.Models.Als;
using RecService.Models.Ensemble;

namespace RecService.Serving.Recommendations.Sources;

/// <summary>
/// A user the model has not seen, with a few fresh plays: fold-in's vector (one exact ALS half-step) proposes tracks by
/// inner product, the ensemble proposes its nearest tracks of each played one, and every candidate is scored by both:
/// the inner product and the sum over the played tracks (weighted by log plays) of the blend's probability, each
/// standardised over the candidates, added with <see cref="EnsembleWeight"/> on the ensemble's. Fold-in alone answers a
/// niche taste with the popular tracks its few plays' vector scores highest; the ensemble's term keeps the taste.
/// Users the model knows, and histories longer than <see cref="MaxSeeds"/> distinct tracks, go on to fold-in alone.
/// </summary>
public sealed class EnsembleSource(RecommendationEngine engine) : ICandidateSource
{
    /// <summary>Most played tracks used as seeds; a longer history is fold-in's.</summary>
    public const int MaxSeeds = 25;
    private const int PerSeed = 50;
    private const int FromFoldIn = 200;
    /// <summary>The ensemble's term against fold-in's, both standardised: the weight measured best for new users
    /// (Training/Ensemble/ENSEMBLE.md, "Recommend for new users").</summary>
    public const float EnsembleWeight = 1f;

    public string Name => "ensemble";
    public int Order => 90;

    public int Fill(in RecommendationContext context, Span<int> ids, Span<float> scores)
    {
        if (context.FreshKnown == 0 || context.User >= 0 || context.Tracks.Length > MaxSeeds) return 0;
        if (EnsembleRanker.For(context.Bundle, IdSpaces.Tracks) is not { } ranker) return 0;
        var als = AlsParts.Of(context.Bundle).Tracks;
        var seeds = context.Tracks;
        var capacity = FromFoldIn + seeds.Length * PerSeed;
        var found = ArrayPool<int>.Shared.Rent(capacity);
        var scratch = ArrayPool<float>.Shared.Rent(capacity);
        var dots = ArrayPool<float>.Shared.Rent(capacity);
        var blended = ArrayPool<float>.Shared.Rent(capacity);
        var vector = ArrayPool<float>.Shared.Rent(als.Factors);
        var excluded = ArrayPool<int>.Shared.Rent(context.Played.Length + context.Excluded.Length + seeds.Length);
        try
        {
            var x = vector.AsSpan(0, als.Factors);
            if (!als.FoldIn(seeds, context.Plays, x)) return 0;
            context.Played.CopyTo(excluded);
            context.Excluded.CopyTo(excluded.AsSpan(context.Played.Length));
            seeds.CopyTo(excluded.AsSpan(context.Played.Length + context.Excluded.Length));
            var leaveOut = excluded.AsSpan(0, context.Played.Length + context.Excluded.Length + seeds.Length);
            var n = engine.RecommendFor(context.Bundle, x, context.Played, context.Excluded, found.AsSpan(0, FromFoldIn), scratch.AsSpan(0, FromFoldIn));
            for (var s = 0; s < seeds.Length; s++)
                n += ranker.Rank(seeds[s], found.AsSpan(n, PerSeed), scratch.AsSpan(n, PerSeed), leaveOut);
            var all = found.AsSpan(0, n);
            all.Sort();
            var kept = 0;
            for (var i = 0; i < n; i++)
                if (kept == 0 || all[kept - 1] != all[i]) all[kept++] = all[i];
            all = all[..kept];
            var dot = dots.AsSpan(0, kept);
            var ensemble = blended.AsSpan(0, kept);
            for (var i = 0; i < kept; i++)
            {
                dot[i] = TensorPrimitives.Dot(x, als.ItemFactors.Row(all[i]));
                var sum = 0f;
                for (var s = 0; s < seeds.Length; s++)
                    sum += MathF.Log(1 + Math.Max(0, context.Plays[s])) / (1 + MathF.Exp(-ranker.Score(seeds[s], all[i])));
                ensemble[i] = sum;
            }
            Standardise(dot);
            Standardise(ensemble);
            var top = new TopK(scores, ids);
            for (var i = 0; i < kept; i++) top.Add(dot[i] + EnsembleWeight * ensemble[i], all[i]);
            return top.SortDescending();
        }
        finally
        {
            ArrayPool<int>.Shared.Return(found);
            ArrayPool<float>.Shared.Return(scratch);
            ArrayPool<float>.Shared.Return(dots);
            ArrayPool<float>.Shared.Return(blended);
            ArrayPool<float>.Shared.Return(vector);
            ArrayPool<int>.Shared.Return(excluded);
        }
    }

    /// <summary>To mean 0 and standard deviation 1 (all 0 when the values are equal).</summary>
    private static void Standardise(Span<float> values)
    {
        if (values.IsEmpty) return;
        var mean = TensorPrimitives.Sum(values) / values.Length;
        TensorPrimitives.Subtract(values, mean, values);
        var sd = MathF.Sqrt(TensorPrimitives.SumOfSquares(values) / values.Length);
        if (sd > 0) TensorPrimitives.Divide(values, sd, values);
        else values.Clear();
    }
}
