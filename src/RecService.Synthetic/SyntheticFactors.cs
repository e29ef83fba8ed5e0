using RecService.Core.Vectors;

namespace RecService.Synthetic;

/// <summary>
/// Deterministic stand-in for trained ALS factors, for benchmarks and tests when no model is at hand. What it imitates:
/// <list type="bullet">
/// <item>a shared offset (ALS item factors have a common "popularity" direction, so they are not centred on the origin);</item>
/// <item>genres, and clusters inside genres, with Zipf-distributed sizes (a few huge clusters, a long tail of tiny ones);</item>
/// <item>heavy-tailed norms (log-normal, larger for items of big clusters), which is what makes inner-product search hard;</item>
/// <item>queries that look like users: a weighted mix of one to three clusters' directions plus noise, with their own norms;</item>
/// <item>a decaying spectrum: every random direction is drawn with per-axis scale (j+1)^-SpectrumDecay in a random rotation,
/// as the singular values of regularized low-rank factors decay. With isotropic noise (SpectrumDecay 0) 64 dimensions are
/// all "intrinsic" and every ANN method gets far slower than on trained factors (hnswlib M=16 reaches only 0.76 recall@10
/// at ef=64 there); the default 1.0 was set so hnswlib's recall/speed curve on this data is close to the one measured on
/// real ALS factors (0.94 at about 15k queries/s).</item>
/// </list>
/// Same arguments, same bytes: one seeded <see cref="Random"/> drives everything in a fixed order.
/// </summary>
public static class SyntheticFactors
{
    public sealed record Options(int Count, int Dimensions, int Queries, int Seed)
    {
        public int Genres { get; init; } = 32;
        public int Clusters { get; init; } = 1000;
        public double ZipfExponent { get; init; } = 1.0;
        /// <summary>Spread of items around their cluster direction, relative to the unit cluster direction.</summary>
        public double ItemNoise { get; init; } = 0.65;
        /// <summary>Sigma of the log-normal item norm.</summary>
        public double NormSigma { get; init; } = 0.6;
        /// <summary>Axis j of every random direction has scale (j+1)^-SpectrumDecay (then a random rotation); 0 is isotropic.</summary>
        public double SpectrumDecay { get; init; } = 0.6;
    }

    public static (float[] Items, float[] Queries) Generate(Options o)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Count, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(o.Dimensions, 2);
        ArgumentOutOfRangeException.ThrowIfNegative(o.Queries);
        var rng = new Random(o.Seed);
        int d = o.Dimensions;
        // Per-axis sigmas with E|v|^2 = 1, decaying by SpectrumDecay, and a random rotation to hide the axes.
        var sigmas = new double[d];
        double total = 0;
        for (int j = 0; j < d; j++) total += sigmas[j] = Math.Pow(j + 1, -2 * o.SpectrumDecay);
        for (int j = 0; j < d; j++) sigmas[j] = Math.Sqrt(sigmas[j] / total);
        var rotation = RandomRotation(rng, d);
        var latent = new float[d];
        float[] Direction(double scale)
        {
            for (int j = 0; j < d; j++) latent[j] = (float)(Gaussian(rng) * sigmas[j] * scale);
            var v = new float[d];
            for (int r = 0; r < d; r++) v[r] = VectorMath.Dot(rotation.AsSpan(r * d, d), latent);
            return v;
        }

        var offset = Direction(1.0);
        Scale(offset, 0.35f);

        var genres = new float[o.Genres][];
        for (int g = 0; g < o.Genres; g++) genres[g] = Direction(1.0);

        int clusters = Math.Max(1, Math.Min(o.Clusters, o.Count));
        var centers = new float[clusters][];
        var clusterWeights = new double[clusters];
        for (int c = 0; c < clusters; c++)
        {
            var genre = genres[ZipfIndex(rng, o.Genres, 1.0)];
            var center = Direction(0.8);
            for (int j = 0; j < d; j++) center[j] += genre[j];
            VectorMath.NormalizeInPlace(center);
            centers[c] = center;
            clusterWeights[c] = 1.0 / Math.Pow(c + 1, o.ZipfExponent);
        }
        var cumulative = Cumulative(clusterWeights);

        var items = new float[(long)o.Count * d];
        for (int i = 0; i < o.Count; i++)
        {
            int c = Pick(rng, cumulative);
            var row = items.AsSpan(i * d, d);
            var noise = Direction(o.ItemNoise);
            for (int j = 0; j < d; j++) row[j] = centers[c][j] + noise[j];
            VectorMath.NormalizeInPlace(row);
            for (int j = 0; j < d; j++) row[j] += offset[j];
            // Popular clusters get larger norms, like ALS factors of popular tracks.
            double popularity = 1.0 + 0.25 * Math.Log(clusterWeights[c] / clusterWeights[^1] + 1.0) / Math.Log(clusters + 1.0);
            float norm = (float)(popularity * Math.Exp(Gaussian(rng) * o.NormSigma));
            VectorMath.NormalizeInPlace(row);
            for (int j = 0; j < d; j++) row[j] *= norm;
        }

        var queries = new float[(long)o.Queries * d];
        for (int q = 0; q < o.Queries; q++)
        {
            var row = queries.AsSpan(q * d, d);
            int tastes = 1 + rng.Next(3);
            for (int t = 0; t < tastes; t++)
            {
                var center = centers[Pick(rng, cumulative)];
                float w = (float)(0.5 + rng.NextDouble());
                for (int j = 0; j < d; j++) row[j] += w * center[j];
            }
            VectorMath.NormalizeInPlace(row);
            var taste = Direction(0.5);
            for (int j = 0; j < d; j++) row[j] += taste[j] + 0.5f * offset[j];
            VectorMath.NormalizeInPlace(row);
            float norm = (float)Math.Exp(Gaussian(rng) * 0.4);
            for (int j = 0; j < d; j++) row[j] *= norm;
        }
        return (items, queries);
    }

    /// <summary>A random orthonormal d x d matrix (row-major): Gram-Schmidt on Gaussian rows.</summary>
    private static float[] RandomRotation(Random rng, int d)
    {
        var m = new double[d * d];
        for (int i = 0; i < m.Length; i++) m[i] = Gaussian(rng);
        for (int r = 0; r < d; r++)
        {
            for (int p = 0; p < r; p++)
            {
                double dot = 0;
                for (int j = 0; j < d; j++) dot += m[r * d + j] * m[p * d + j];
                for (int j = 0; j < d; j++) m[r * d + j] -= dot * m[p * d + j];
            }
            double norm = 0;
            for (int j = 0; j < d; j++) norm += m[r * d + j] * m[r * d + j];
            norm = Math.Sqrt(norm);
            for (int j = 0; j < d; j++) m[r * d + j] /= norm;
        }
        return m.Select(x => (float)x).ToArray();
    }

    private static void Scale(float[] v, float s)
    {
        VectorMath.NormalizeInPlace(v);
        for (int j = 0; j < v.Length; j++) v[j] *= s;
    }

    private static double Gaussian(Random rng)
    {
        // Box-Muller; 1 - NextDouble() avoids log(0).
        double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
        return Math.Sqrt(-2.0 * Math.Log(u1)) * Math.Cos(2.0 * Math.PI * u2);
    }

    private static int ZipfIndex(Random rng, int n, double s)
    {
        var w = new double[n];
        for (int i = 0; i < n; i++) w[i] = 1.0 / Math.Pow(i + 1, s);
        return Pick(rng, Cumulative(w));
    }

    private static double[] Cumulative(double[] weights)
    {
        var c = new double[weights.Length];
        double sum = 0;
        for (int i = 0; i < weights.Length; i++) c[i] = sum += weights[i];
        for (int i = 0; i < c.Length; i++) c[i] /= sum;
        return c;
    }

    private static int Pick(Random rng, double[] cumulative)
    {
        int i = Array.BinarySearch(cumulative, rng.NextDouble());
        if (i < 0) i = ~i;
        return Math.Min(i, cumulative.Length - 1);
    }
}
