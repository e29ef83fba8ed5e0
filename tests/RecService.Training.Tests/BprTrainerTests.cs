using RecService.Core.Sampling;
using RecService.Core.Sparse;
using RecService.Training.Bpr;
using RecService.Training.Evaluation;

namespace RecService.Training.Tests;

public class BprTrainerTests
{
    /// <summary>Taste groups: each user plays 10 items of its group and 2 of three items (the last three) popular with everyone.</summary>
    private static CsrMatrix Groups(ulong seed, int users = 600, int groups = 6, int perGroup = 20)
    {
        var rows = new List<int>(); var cols = new List<int>(); var vals = new List<float>();
        var rng = new Xoshiro256(seed);
        for (var u = 0; u < users; u++)
        {
            var g = u % groups;
            var picked = new HashSet<int>();
            while (picked.Count < 10) picked.Add(g * perGroup + rng.NextInt(perGroup));
            while (picked.Count < 12) picked.Add(groups * perGroup + rng.NextInt(3));
            foreach (var i in picked) { rows.Add(u); cols.Add(i); vals.Add(1 + rng.NextInt(5)); }
        }
        return CsrMatrix.FromTriples(users, groups * perGroup + 3, rows.ToArray(), cols.ToArray(), vals.ToArray());
    }

    private static readonly BprOptions Small = new() { Factors = 16, Epochs = 40, Threads = 1, Seed = 3 };

    [Fact]
    public void Learns_taste_groups_that_popularity_cannot_see()
    {
        var split = HoldoutSplit.Random(Groups(1), 0.2, seed: 3);
        var model = new BprTrainer(Small).Fit(split.Train);
        var bpr = RankingEvaluator.Evaluate(split, new FactorScorer(model.AsFactorModel()), k: 5);
        var pop = RankingEvaluator.Evaluate(split, new PopularityScorer(split.Train), k: 5);
        Assert.True(bpr.Precision > pop.Precision * 1.5, $"BPR P@5 {bpr.Precision:F3} vs popularity {pop.Precision:F3}");
        Assert.True(bpr.Auc > 0.9, $"BPR AUC {bpr.Auc:F3}");
    }

    [Fact]
    public void Two_threads_learn_the_groups_too()
    {
        var split = HoldoutSplit.Random(Groups(2, users: 3000), 0.2, seed: 3);
        var model = new BprTrainer(Small with { Threads = 2, Epochs = 20 }).Fit(split.Train);
        var bpr = RankingEvaluator.Evaluate(split, new FactorScorer(model.AsFactorModel()), k: 5);
        Assert.True(bpr.Auc > 0.9, $"BPR AUC {bpr.Auc:F3}");
    }

    [Fact]
    public void One_thread_training_depends_only_on_the_seed()
    {
        var plays = Groups(4, users: 200);
        var a = new BprTrainer(Small with { Epochs = 3 }).Fit(plays);
        var b = new BprTrainer(Small with { Epochs = 3 }).Fit(plays);
        var c = new BprTrainer(Small with { Epochs = 3, Seed = 4 }).Fit(plays);
        Assert.Equal(a.ItemFactors, b.ItemFactors);
        Assert.Equal(a.UserFactors, b.UserFactors);
        Assert.NotEqual(a.ItemFactors, c.ItemFactors);
    }

    [Fact]
    public void The_bias_rides_in_the_last_column()
    {
        var model = new BprTrainer(Small with { Epochs = 5 }).Fit(Groups(5, users: 300));
        Assert.Equal(17, model.Factors);
        for (var u = 0; u < model.Users; u++) Assert.Equal(1f, model.UserFactors[u * model.Factors + 16]);
        // The three items everyone plays end with the largest biases.
        var bias = Enumerable.Range(0, model.Items).Select(i => model.ItemFactors[i * model.Factors + 16]).ToArray();
        var top = bias.Select((b, i) => (b, i)).OrderByDescending(p => p.b).Take(3).Select(p => p.i).Order();
        Assert.Equal([model.Items - 3, model.Items - 2, model.Items - 1], top);
        Assert.All(model.ItemFactors, x => Assert.True(float.IsFinite(x)));
    }
}
