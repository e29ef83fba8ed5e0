using RecService.Core.Vectors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace RecService.Training.Als;

/// <summary>Per-thread scratch for the row solvers, allocated once per worker per half-step, never per row.</summary>
internal sealed class RowWorkspace
{
    /// <summary>
    /// Rows with more entries than this are not gathered: past ~1 MB the copy no longer fits in L2 and buys nothing,
    /// and a popular item's column (tens of thousands of users) would otherwise cost every worker tens of MB.
    /// </summary>
    public const int GatherLimit = 4096;

    public RowWorkspace(int factors, int maxRowLength, bool forCholesky)
    {
        Residual = new float[factors];
        Direction = new float[factors];
        Product = new float[factors];
        RightHandSide = new float[factors];
        Gathered = new float[Math.Min(maxRowLength, GatherLimit) * factors];
        if (forCholesky)
        {
            Matrix = new double[factors * factors];
            Vector = new double[factors];
        }
    }

    public float[] Residual { get; }
    public float[] Direction { get; }
    public float[] Product { get; }
    public float[] RightHandSide { get; }
    public float[] Gathered { get; }
    public double[] Matrix { get; } = [];
    public double[] Vector { get; } = [];
    public double Loss { get; set; }
}

/// <summary>Where a row's fixed-side vectors live: a struct so the JIT specialises the CG loop for each.</summary>
internal interface IFactorRows
{
    ref float Row(int k);
}

/// <summary>The row's item vectors copied contiguously: the CG steps stream them from L1/L2 in order.</summary>
internal readonly struct GatheredRows(float[] buffer, int factors) : IFactorRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Row(int k) => ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(buffer), k * factors);
}

/// <summary>The row's item vectors read in place through the column indices (rows too long to gather).</summary>
internal readonly struct IndexedRows(float[] factors, int[] indices, int start, int width) : IFactorRows
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ref float Row(int k) =>
        ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(factors), (nint)Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(indices), start + k) * width);
}

/// <summary>
/// Approximate solve of one row's normal equations (Takacs, Pilaszy, Nemeth, Tikk 2011):
/// A x = b with A = Y^T Y + lambda I + sum_k (c_k - 1) y_k y_k^T and b = sum_k c_k p_k y_k,
/// by a few CG steps warm-started from the previous x. A is never formed: A v costs one f x f product with the
/// shared (Y^T Y + lambda I) plus a dot and an axpy per entry, so a row costs O(n f + f^2) instead of O(n f^2 + f^3).
/// </summary>
internal static class ConjugateGradientSolver
{
    /// <summary>
    /// Most steps an ill-conditioned row may take, as a multiple of the configured ones. A row is ill-conditioned when
    /// its strongest confidence term outweighs the shared matrix's mean eigenvalue (raw counts in the hundred-thousands
    /// with linear confidence): from a warm start, CG then spends its few steps on those few huge directions and barely
    /// moves along the rest of the spectrum, which is what ranks the items the user has not played.
    /// </summary>
    public const int IllConditionedStepFactor = 3;

    /// <summary>An ill-conditioned row's extra steps stop once the residual's squared norm has fallen this far (10x in norm).</summary>
    private const float ResidualDropSquared = 0.01f;

    /// <summary>
    /// The c - 1 above which a row counts as ill-conditioned: c - 1 times the fixed side's mean |y|^2 exceeds the mean
    /// eigenvalue of Y^T Y + lambda I (its trace over f). Log confidence keeps c - 1 far below it.
    /// </summary>
    public static float IllConditionedConfidence(double fixedSquaredNorm, int fixedCount, int factors, float lambda)
    {
        var meanSquaredNorm = fixedSquaredNorm / Math.Max(1, fixedCount);
        var meanEigenvalue = fixedSquaredNorm / factors + lambda;
        return meanSquaredNorm > 0 ? (float)Math.Min(float.MaxValue, meanEigenvalue / meanSquaredNorm) : float.MaxValue;
    }

    /// <summary>Entries ahead to prefetch: 16 measured a few percent better than 4, 8 or 32 on the 100k-user world.</summary>
    private const int PrefetchDistance = 16;

    /// <summary>
    /// Updates <paramref name="x"/> in place and returns the row's share of the training loss:
    /// sum_k c_k p_k - x.(b + r), which equals sum_k c_k (p_k - x.y_k)^2 + sum over absent k of (x.y_k)^2 + lambda |x|^2
    /// because x^T A x = x.(b - r); only computed (it costs an extra axpy per entry for b) when <paramref name="withLoss"/>.
    /// </summary>
    public static double SolveRow(ConfidenceRows rows, int row, float[] fixedFactors, float[] regularizedGram, ref float x,
        RowWorkspace ws, int factors, int steps, int maxSteps, bool withLoss)
    {
        var start = rows.RowPointers[row];
        var count = rows.RowPointers[row + 1] - start;
        ref var cp = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(rows.WeightedPreference), start);
        ref var cm1 = ref Unsafe.Add(ref MemoryMarshal.GetArrayDataReference(rows.ExtraConfidence), start);
        ref var gram = ref MemoryMarshal.GetArrayDataReference(regularizedGram);
        ref var r = ref MemoryMarshal.GetArrayDataReference(ws.Residual);
        ref var b = ref MemoryMarshal.GetArrayDataReference(ws.RightHandSide);
        if (count == 0)
        {
            // b = 0, so the exact solution is x = 0 (A is positive definite): set it rather than let CG crawl towards it.
            MemoryMarshal.CreateSpan(ref x, factors).Clear();
            return 0;
        }
        var gather = count <= RowWorkspace.GatherLimit;
        ref var gathered = ref MemoryMarshal.GetArrayDataReference(ws.Gathered);

        // r = b - A x. One pass over the row's vectors that also copies them contiguously, so the CG steps below never
        // touch the scattered fixed-side matrix again: one random read per entry per half-step instead of one per step.
        VectorKernels.SymmetricMultiply(ref gram, ref x, ref r, factors);
        for (var i = 0; i < factors; i++) Unsafe.Add(ref r, i) = -Unsafe.Add(ref r, i);
        var source = new IndexedRows(fixedFactors, rows.ColumnIndices, start, factors);
        // This pass is where every cache miss of the half-step happens (the fixed side is 5-25 MB, read in random
        // order), so ask for the vector PrefetchDistance entries ahead, which may be the next row's first ones.
        var prefetchable = rows.ColumnIndices.Length - start - PrefetchDistance;
        double sumWeightedPreference;
        if (VectorKernels.CanUseRowProduct64(factors))
        {
            // b is written (not accumulated) by the kernel, so it needs no clearing.
            sumWeightedPreference = VectorKernels.ResidualPass64(source, count, ref cp, ref cm1, ref x, ref r, ref b, withLoss,
                gather ? ws.Gathered : null, prefetchable, PrefetchDistance);
        }
        else
        {
            if (withLoss) Array.Clear(ws.RightHandSide);
            sumWeightedPreference = 0;
            for (var k = 0; k < count; k++)
            {
                if (k < prefetchable) VectorMath.Prefetch(in source.Row(k + PrefetchDistance), factors);
                ref var y = ref source.Row(k);
                if (gather) VectorKernels.Copy(ref Unsafe.Add(ref gathered, k * factors), ref y, factors);
                var weight = Unsafe.Add(ref cp, k);
                var d = VectorKernels.Dot(ref y, ref x, factors);
                VectorKernels.MultiplyAdd(ref r, ref y, weight - Unsafe.Add(ref cm1, k) * d, factors);
                if (withLoss)
                {
                    VectorKernels.MultiplyAdd(ref b, ref y, weight, factors);
                    sumWeightedPreference += weight;
                }
            }
        }

        if (gather) Iterate(new GatheredRows(ws.Gathered, factors), count, ref cm1, ref gram, ref x, ws, factors, steps, maxSteps);
        else Iterate(source, count, ref cm1, ref gram, ref x, ws, factors, steps, maxSteps);

        if (!withLoss) return 0;
        return sumWeightedPreference - VectorKernels.Dot(ref x, ref b, factors) - VectorKernels.Dot(ref x, ref r, factors);
    }

    /// <summary><paramref name="steps"/> CG steps, then (ill-conditioned rows: <paramref name="maxSteps"/> above it) more until the
    /// residual has dropped <see cref="ResidualDropSquared"/> from where it started.</summary>
    private static void Iterate<TRows>(TRows rows, int count, ref float cm1, ref float gram, ref float x, RowWorkspace ws, int factors, int steps, int maxSteps)
        where TRows : struct, IFactorRows
    {
        ref var r = ref MemoryMarshal.GetArrayDataReference(ws.Residual);
        ref var p = ref MemoryMarshal.GetArrayDataReference(ws.Direction);
        ref var ap = ref MemoryMarshal.GetArrayDataReference(ws.Product);
        Unsafe.CopyBlockUnaligned(ref Unsafe.As<float, byte>(ref p), ref Unsafe.As<float, byte>(ref r), (uint)(factors * sizeof(float)));
        var rsOld = VectorKernels.Dot(ref r, ref r, factors);
        var rsStart = rsOld;
        for (var step = 0; step < maxSteps; step++)
        {
            // Converged (or an empty row at x = 0): another step would divide 0 by 0.
            if (rsOld < 1e-20f) break;
            if (step >= steps && rsOld <= ResidualDropSquared * rsStart) break;
            VectorKernels.SymmetricMultiply(ref gram, ref p, ref ap, factors);
            if (VectorKernels.CanUseRowProduct64(factors)) VectorKernels.RowProduct64(rows, count, ref cm1, ref p, ref ap);
            else
            {
                for (var k = 0; k < count; k++)
                {
                    ref var y = ref rows.Row(k);
                    VectorKernels.MultiplyAdd(ref ap, ref y, Unsafe.Add(ref cm1, k) * VectorKernels.Dot(ref y, ref p, factors), factors);
                }
            }
            var alpha = rsOld / VectorKernels.Dot(ref p, ref ap, factors);
            VectorKernels.MultiplyAdd(ref x, ref p, alpha, factors);
            VectorKernels.MultiplyAdd(ref r, ref ap, -alpha, factors);
            var rsNew = VectorKernels.Dot(ref r, ref r, factors);
            VectorKernels.ScaleAdd(ref p, ref r, rsNew / rsOld, factors);
            rsOld = rsNew;
        }
    }
}
