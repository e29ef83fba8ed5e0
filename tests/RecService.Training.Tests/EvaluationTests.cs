using RecService.Core.Sampling;
using RecService.Core.Ids;
using RecService.Core.Sparse;
using RecService.Synthetic;
using RecService.Training.Als;
using RecService.Training.Evaluation;

namespace RecService.Training.Tests;

public class RankingMetricsTests
{
    // Ranked [3, 1, 7, 5] against relevant {1, 5, 9}: hits at positions 2 and 4.
    private static readonly int[] Ranked = [3, 1, 7, 5];
    private static readonly int[] Relevant = [1, 5, 9];

    [Fact]
    public void PrecisionCountsHitsOverK()
    {
        Assert.Equal(0.5, RankingMetrics.PrecisionAtK(Ranked, Relevant, 4), 12);
        Assert.Equal(0.5, RankingMetrics.PrecisionAtK(Ranked, Relevant, 2), 12);   // 1 hit in the first 2
        Assert.Equal(0.0, RankingMetrics.PrecisionAtK(Ranked, Relevant, 1), 12);
        Assert.Equal(0.2, RankingMetrics.PrecisionAtK(Ranked, Relevant, 10), 12);  // short list still divides by k
    }

    [Fact]
    public void AveragePrecisionByHand()
    {
        // (1/2 + 2/4) / min(4, 3)
        Assert.Equal(1.0 / 3, RankingMetrics.AveragePrecisionAtK(Ranked, Relevant, 4), 12);
        // k = 2: (1/2) / min(2, 3)
        Assert.Equal(0.25, RankingMetrics.AveragePrecisionAtK(Ranked, Relevant, 2), 12);
        Assert.Equal(1.0, RankingMetrics.AveragePrecisionAtK([9, 5, 1], Relevant, 3), 12);
    }

    [Fact]
    public void NdcgByHand()
    {
        var dcg = 1 / Math.Log2(3) + 1 / Math.Log2(5);
        var ideal = 1 + 1 / Math.Log2(3) + 1 / Math.Log2(4);
        Assert.Equal(dcg / ideal, RankingMetrics.NdcgAtK(Ranked, Relevant, 4), 12);
        Assert.Equal(1.0, RankingMetrics.NdcgAtK([5, 9, 1, 0], Relevant, 4), 12);
        Assert.Equal(0.0, RankingMetrics.NdcgAtK([0, 2], Relevant, 2), 12);
    }

    [Fact]
    public void AucCountsOrderedPairsWithHalfTiesAndSkipsExcludedItems()
    {
        // Positive item 2 (0.5) vs negatives 0 (0.9: wrong), 1 (0.1: right), 3 (0.5: tie); item 4 is excluded.
        float[] scores = [0.9f, 0.1f, 0.5f, 0.5f, float.NegativeInfinity];
        Assert.Equal(0.5, RankingMetrics.Auc(scores, [2], new float[5]), 12);
        // Positives 0 and 2 vs negatives 1 and 3: (1 + 1) + (1 + 0.5) over 4 pairs.
        Assert.Equal(3.5 / 4, RankingMetrics.Auc(scores, [0, 2], new float[5]), 12);
        Assert.Equal(1.0, RankingMetrics.Auc([3f, 2f, 1f], [0], new float[3]), 12);
        Assert.Equal(0.0, RankingMetrics.Auc([3f, 2f, 1f], [2], new float[3]), 12);
    }

    [Fact]
    public void AucMatchesPairwiseCountOnLongTiedLists()
    {
        // Long enough for the SIMD counting path, with many ties (scores on a 0.1 grid) and excluded items.
        var state = 17UL;
        for (var trial = 0; trial < 20; trial++)
        {
            var n = 37 + trial * 13;
            var scores = new float[n];
            for (var i = 0; i < n; i++)
                scores[i] = SplitMix64.Next(ref state) % 9 == 0 ? float.NegativeInfinity : (int)(SplitMix64.Next(ref state) % 10) / 10f;
            var relevant = Enumerable.Range(0, n).Where(i => !float.IsNegativeInfinity(scores[i]) && SplitMix64.Next(ref state) % 5 == 0).ToArray();
            if (relevant.Length == 0) continue;
            double correct = 0; long pairs = 0;
            for (var i = 0; i < n; i++)
            {
                if (float.IsNegativeInfinity(scores[i]) || relevant.Contains(i)) continue;
                foreach (var p in relevant)
                {
                    pairs++;
                    correct += scores[p] > scores[i] ? 1 : scores[p] == scores[i] ? 0.5 : 0;
                }
            }
            Assert.Equal(correct / pairs, RankingMetrics.Auc(scores, relevant, new float[n]), 12);
        }
    }

    [Fact]
    public void TopKIsOrderedSkipsExcludedAndBreaksTiesByIndex()
    {
        float[] scores = [0.2f, 0.9f, float.NegativeInfinity, 0.9f, 0.5f, 0.1f];
        var top = new int[3];
        Assert.Equal(3, RankingMetrics.TopK(scores, 3, top));
        Assert.Equal([1, 3, 4], top);
        var all = new int[10];
        Assert.Equal(5, RankingMetrics.TopK(scores, 10, all)); // the -Inf item never appears
        Assert.Equal([1, 3, 4, 0, 5], all[..5]);
    }
}

public class RankingEvaluatorTests
{
    private sealed class FixedScorer(float[] scores) : IItemScorer
    {
        public string Name => "fixed";
        public void Score(int user, Span<float> s) => scores.CopyTo(s);
    }

    [Fact]
    public void AveragesOnlyUsersWithTestItemsAndExcludesTheirTrainItems()
    {
        // 3 users x 5 items. Scores rank items 0 > 1 > 2 > 3 > 4 for everyone.
        // user 0: train {0}, test {1}     -> ranked [1, 2]: P@2 = 1/2, AP = 1, NDCG = 1
        // user 1: train {1, 2}, test {4}  -> ranked [0, 3]: P@2 = 0, AP = 0, NDCG = 0
        // user 2: train {3}, no test      -> not evaluated
        var train = CsrMatrix.FromTriples(3, 5, [0, 1, 1, 2], [0, 1, 2, 3], [1, 1, 1, 1]);
        var test = CsrMatrix.FromTriples(3, 5, [0, 1], [1, 4], [1, 1]);
        var report = RankingEvaluator.Evaluate(new Holdout(train, test), new FixedScorer([5, 4, 3, 2, 1]), k: 2, threads: 2);
        Assert.Equal(2, report.Users);
        Assert.Equal(0.25, report.Precision, 12);
        Assert.Equal(0.5, report.MeanAveragePrecision, 12);
        Assert.Equal(0.5, report.Ndcg, 12);
        // AUC: user 0 positive 1 beats 2, 3, 4 -> 1; user 1 positive 4 loses to 0 and 3 -> 0.
        Assert.Equal(0.5, report.Auc, 12);
    }

    [Fact]
    public void FactorScoresInBatchesAreEachUsersDotProducts()
    {
        // 37 items (two full tiles and a partial one), 65 factors (as BPR's rows with the bias), 7 users: one batch of
        // four and three scored one by one.
        const int users = 7, items = 37, factors = 65;
        var state = 5UL;
        float Next() => (float)((SplitMix64.Next(ref state) >> 40) / (double)(1 << 24) - 0.5);
        var x = new float[users * factors];
        var y = new float[items * factors];
        for (var i = 0; i < x.Length; i++) x[i] = Next();
        for (var i = 0; i < y.Length; i++) y[i] = Next();
        var scorer = new FactorScorer(new AlsModel(users, items, factors, x, y));
        int[] batch = [6, 0, 3, 5, 1, 2, 4];
        var scores = new float[batch.Length * items];
        ((IItemScorer)scorer).Score(batch, scores);
        var single = new float[items];
        for (var b = 0; b < batch.Length; b++)
        {
            scorer.Score(batch[b], single);
            for (var i = 0; i < items; i++)
            {
                double expected = 0;
                for (var k = 0; k < factors; k++) expected += (double)x[batch[b] * factors + k] * y[i * factors + k];
                Assert.Equal(expected, scores[b * items + i], 4);
                // A user's scores do not depend on the users it is scored with.
                Assert.Equal(single[i], scores[b * items + i]);
            }
        }
    }

    [Fact]
    public void AlsBeatsPopularityOnPlantedTastes()
    {
        // 6 taste groups of 15 items; each user plays 10 of their group's items plus 2 globally popular ones.
        var rows = new List<int>(); var cols = new List<int>(); var vals = new List<float>();
        const int users = 300, groups = 6, perGroup = 15, items = groups * perGroup;
        var state = 99UL;
        for (var u = 0; u < users; u++)
        {
            var g = u % groups;
            var picked = new HashSet<int>();
            while (picked.Count < 10) picked.Add(g * perGroup + (int)(SplitMix64.Next(ref state) % perGroup));
            picked.Add((int)(SplitMix64.Next(ref state) % 3)); // items 0..2 are popular with everyone
            foreach (var i in picked) { rows.Add(u); cols.Add(i); vals.Add(1 + (float)(SplitMix64.Next(ref state) % 5)); }
        }
        var all = CsrMatrix.FromTriples(users, items, rows.ToArray(), cols.ToArray(), vals.ToArray());
        var split = HoldoutSplit.Random(all, 0.2, seed: 3);
        var model = new AlsTrainer(new AlsOptions { Factors = 8, Iterations = 10, Regularization = 0.1f, Alpha = 2f }).Train(split.Train);
        var als = RankingEvaluator.Evaluate(split, new FactorScorer(model), k: 5);
        var pop = RankingEvaluator.Evaluate(split, new PopularityScorer(split.Train), k: 5);
        Assert.True(als.Precision > pop.Precision * 1.5, $"ALS P@5 {als.Precision:F3} vs popularity {pop.Precision:F3}");
        Assert.True(als.Auc > pop.Auc, $"ALS AUC {als.Auc:F3} vs popularity {pop.Auc:F3}");
    }
}

public class HoldoutSplitTests
{
    [Fact]
    public void RandomSplitPartitionsThePairsReproducibly()
    {
        var all = SyntheticInteractions.Generate(300, 100, 4000, seed: 2);
        var a = HoldoutSplit.Random(all, 0.2, seed: 8);
        var b = HoldoutSplit.Random(all, 0.2, seed: 8);
        var c = HoldoutSplit.Random(all, 0.2, seed: 9);
        Assert.Equal(all.NonZeros, a.Train.NonZeros + a.Test.NonZeros);
        Assert.InRange(a.Test.NonZeros, 0.17 * all.NonZeros, 0.23 * all.NonZeros);
        Assert.Equal(a.Test.ColumnIndices, b.Test.ColumnIndices);
        Assert.NotEqual(a.Test.ColumnIndices, c.Test.ColumnIndices);
        for (var u = 0; u < all.Rows; u++)
        {
            foreach (var i in a.Test.RowIndices(u))
            {
                Assert.Equal(0f, a.Train.Get(u, i));
                Assert.Equal(all.Get(u, i), a.Test.Get(u, i));
            }
            foreach (var i in a.Train.RowIndices(u)) Assert.Equal(all.Get(u, i), a.Train.Get(u, i));
        }
    }

    [Fact]
    public void AlignMapsIdsAndDropsUnknownAndSeenPairs()
    {
        var trainUsers = new IdMap(["ann", "bob"]);
        var trainItems = new IdMap(["x", "y", "z"]);
        var train = CsrMatrix.FromTriples(2, 3, [0, 1], [0, 2], [3, 1]); // ann-x, bob-z
        var testUsers = new IdMap(["bob", "cat", "ann"]);
        var testItems = new IdMap(["y", "x", "new"]);
        // bob-y (kept), cat-y (unknown user), ann-x (seen in train), ann-new (unknown item), ann-y (kept)
        var test = CsrMatrix.FromTriples(3, 3, [0, 1, 2, 2, 2], [0, 0, 1, 2, 0], [1, 1, 1, 1, 2]);
        var split = HoldoutSplit.Align(train, trainUsers, trainItems, test, testUsers, testItems);
        Assert.Equal(2, split.DroppedUnknown);
        Assert.Equal(1, split.DroppedSeen);
        Assert.Equal(2, split.Test.NonZeros);
        Assert.Equal(2f, split.Test.Get(0, 1)); // ann-y
        Assert.Equal(1f, split.Test.Get(1, 1)); // bob-y
    }
}
