using RecService.Core.Sampling;
using RecService.Training.Word2Vec;

namespace RecService.Training.Tests;

public class Word2VecTrainerTests
{
    private const int Clusters = 8;
    private const int PerCluster = 25;

    /// <summary>Sequences that each stay inside one planted cluster of tokens, with a share of tokens from anywhere.</summary>
    private static (TokenSequences Corpus, int[] ClusterOf) Planted(ulong seed, int sequences = 3000, double noise = 0.1)
    {
        var vocabulary = Clusters * PerCluster;
        var clusterOf = new int[vocabulary];
        // Tokens are shuffled over clusters so that ids say nothing about the structure.
        var order = Enumerable.Range(0, vocabulary).ToArray();
        var rng = new Xoshiro256(seed);
        for (var i = order.Length - 1; i > 0; i--)
        {
            var j = rng.NextInt(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        for (var i = 0; i < vocabulary; i++) clusterOf[order[i]] = i / PerCluster;
        var list = new List<int[]>();
        for (var s = 0; s < sequences; s++)
        {
            var cluster = rng.NextInt(Clusters);
            var length = 8 + rng.NextInt(12);
            var seq = new int[length];
            for (var i = 0; i < length; i++)
                seq[i] = rng.NextDouble() < noise ? rng.NextInt(vocabulary) : order[cluster * PerCluster + rng.NextInt(PerCluster)];
            list.Add(seq);
        }
        return (TokenSequences.From(vocabulary, list), clusterOf);
    }

    private static double SameClusterShare(Word2VecModel model, int[] clusterOf, int neighbours)
    {
        var v = model.Vocabulary;
        var d = model.Dimensions;
        var norms = Enumerable.Range(0, v).Select(t => MathF.Sqrt(model.Vector(t).ToArray().Sum(x => x * x))).ToArray();
        var same = 0;
        for (var t = 0; t < v; t++)
        {
            var a = model.Vector(t).ToArray();
            var best = Enumerable.Range(0, v).Where(u => u != t)
                .OrderByDescending(u =>
                {
                    var b = model.Vectors.AsSpan(u * d, d);
                    var dot = 0f;
                    for (var i = 0; i < d; i++) dot += a[i] * b[i];
                    return dot / (norms[t] * norms[u]);
                })
                .Take(neighbours);
            same += best.Count(u => clusterOf[u] == clusterOf[t]);
        }
        return same / (double)(v * neighbours);
    }

    private static readonly Word2VecOptions Small = new() { Dimensions = 32, Epochs = 5, Threads = 1, Seed = 7, Subsample = 0 };

    [Fact]
    public void Recovers_planted_co_occurrence_clusters()
    {
        var (corpus, clusterOf) = Planted(1);
        var model = new Word2VecTrainer(Small).Fit(corpus);
        // A token's 10 nearest by cosine share its cluster (chance is 24 / 199, about 0.12).
        var share = SameClusterShare(model, clusterOf, 10);
        Assert.True(share >= 0.95, $"same-cluster share among 10 nearest: {share:F3}");
    }

    [Fact]
    public void With_several_threads_the_structure_is_recovered_too()
    {
        var (corpus, clusterOf) = Planted(2);
        var model = new Word2VecTrainer(Small with { Threads = 2 }).Fit(corpus);
        Assert.Equal(2, model.Stats.Threads);
        var share = SameClusterShare(model, clusterOf, 10);
        Assert.True(share >= 0.95, $"same-cluster share among 10 nearest: {share:F3}");
    }

    [Fact]
    public void Merged_copies_add_every_threads_changes_to_the_shared_rows()
    {
        // 21 floats: two full 256-bit vectors and a tail.
        var start = Enumerable.Range(0, 21).Select(i => i * 0.5f).ToArray();
        var shared = (float[])start.Clone();
        var copies = new MergedCopies(shared, 2);
        Assert.Equal(start, copies.Copy(1));
        for (var i = 0; i < shared.Length; i++)
        {
            copies.Copy(0)[i] += 1f;
            if (i % 3 == 0) copies.Copy(1)[i] -= 2f;
        }
        copies.Merge(0);
        Assert.Equal(start.Select(v => v + 1f), shared);
        Assert.Equal(shared, copies.Copy(0));
        // Copy 1 merged later: its own change is added, and it takes copy 0's.
        copies.Merge(1);
        var both = start.Select((v, i) => v + 1f - (i % 3 == 0 ? 2f : 0f)).ToArray();
        Assert.Equal(both, shared);
        Assert.Equal(both, copies.Copy(1));
        // Merging again without changes adds nothing twice; copy 0 then sees copy 1's change.
        copies.Merge(0);
        copies.Merge(1);
        Assert.Equal(both, shared);
        Assert.Equal(both, copies.Copy(0));
    }

    [Fact]
    public void One_thread_training_depends_only_on_the_seed()
    {
        var (corpus, _) = Planted(3, sequences: 500);
        var a = new Word2VecTrainer(Small with { Subsample = 1e-2 }).Fit(corpus);
        var b = new Word2VecTrainer(Small with { Subsample = 1e-2 }).Fit(corpus);
        var c = new Word2VecTrainer(Small with { Subsample = 1e-2, Seed = 8 }).Fit(corpus);
        Assert.Equal(a.Vectors, b.Vectors);
        Assert.NotEqual(a.Vectors, c.Vectors);
        Assert.Equal(a.Stats.Pairs, b.Stats.Pairs);
    }

    [Fact]
    public void Counts_the_tokens_it_reads_and_keeps()
    {
        var (corpus, _) = Planted(4, sequences: 400);
        var all = new Word2VecTrainer(Small with { Epochs = 2 }).Fit(corpus);
        Assert.Equal(2 * corpus.TokenCount, all.Stats.TokensRead);
        Assert.Equal(all.Stats.TokensRead, all.Stats.TokensTrained); // no down-sampling
        var sampled = new Word2VecTrainer(Small with { Epochs = 2, Subsample = 1e-3 }).Fit(corpus);
        Assert.Equal(2 * corpus.TokenCount, sampled.Stats.TokensRead);
        Assert.InRange(sampled.Stats.TokensTrained, 1, sampled.Stats.TokensRead - 1); // 200 tokens: all frequent, some dropped
    }

    [Fact]
    public void A_token_that_never_occurs_keeps_a_zero_vector()
    {
        var corpus = TokenSequences.From(5, [[0, 1, 2, 1, 0], [2, 1, 0, 1]]);
        var model = new Word2VecTrainer(Small).Fit(corpus);
        Assert.All(model.Vector(4).ToArray(), x => Assert.Equal(0f, x));
        Assert.All(model.Vector(3).ToArray(), x => Assert.Equal(0f, x));
        Assert.Contains(model.Vector(1).ToArray(), x => x != 0f);
        Assert.All(model.Vectors, x => Assert.True(float.IsFinite(x)));
    }

    [Fact]
    public void Tokens_outside_the_vocabulary_are_refused()
    {
        var error = Assert.Throws<ArgumentException>(() => TokenSequences.From(3, [[0, 3]]));
        Assert.Contains("Token 3", error.Message);
    }

    [Fact]
    public void Balanced_ranges_split_by_tokens_not_sequences()
    {
        // 116 tokens: the first sequence alone is nearer half of them than any cut by sequence count.
        var corpus = TokenSequences.From(2, [new int[100], [0], [0], [0], [0], [0], [0], new int[10]]);
        Assert.Equal([0, 1, 8], corpus.BalancedRanges(2));
        Assert.Equal([0, 8], corpus.BalancedRanges(1));
        Assert.Equal(9, corpus.BalancedRanges(100).Length); // never more ranges than sequences
    }
}
