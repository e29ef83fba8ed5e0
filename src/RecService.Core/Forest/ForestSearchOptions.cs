using RecService.Core.Vectors;

namespace RecService.Core.Forest;

/// <summary>
/// How hard one <see cref="ForestIndex"/> query searches, passed per call so an index shared across threads holds no
/// tuning state. A negative field takes the index's default for its metric (<see cref="For"/>).
/// </summary>
/// <param name="SearchK">Most candidates scored on int8 codes; more is slower and more accurate. A value of Count or more
/// scans everything (and turns the early stop off).</param>
/// <param name="StopSlack">Early stop: the search also ends once the best queued cell looks unable to beat the candidates
/// kept (step 4 of FORMAT.md's query walk-through); larger stops sooner, 0 turns it off.</param>
/// <param name="Rerank">How many of the best code-scored candidates are re-scored exactly in float32 (at least 2k are); a
/// full scan re-scores at least <see cref="ForestIndex.ExhaustiveRerankCount"/>.</param>
public readonly record struct ForestSearchOptions(int SearchK = -1, float StopSlack = -1, int Rerank = -1)
{
    /// <summary>Every field at the index's default.</summary>
    public static ForestSearchOptions Default => new();

    /// <summary>
    /// The defaults for a metric. SearchK 6000 (cosine) / 1500 (dot) with StopSlack 28 reach recall@10 of 0.967 (cosine)
    /// and 0.976 (dot) on the benchmark's ALS-like 200k x 64 data and 0.957 (dot) on 1M x 64; at 1M x 64 (dot) the slack
    /// reached recall 0.958 in 11 µs where searchK alone needed 14 µs for 0.953. Rerank 20 (dot) was 9% faster than 32 at
    /// 1M x 64 for recall 0.957 against 0.958 (the pool's cut rises sooner, so the early stop comes earlier); on 200k x 64
    /// cosine 20 lost 0.002 of recall for 9%, a wash, so cosine keeps 32. Measure a real model with <c>rec index bench</c>.
    /// </summary>
    public static ForestSearchOptions For(Metric metric) => metric == Metric.Dot
        ? new(1500, 28f, 20)
        : new(6000, 28f, ForestIndex.ExhaustiveRerankCount);

    /// <summary>These options with every negative field replaced by <paramref name="defaults"/>'s.</summary>
    public ForestSearchOptions Or(in ForestSearchOptions defaults) => new(
        SearchK < 0 ? defaults.SearchK : SearchK,
        StopSlack < 0 ? defaults.StopSlack : StopSlack,
        Rerank < 0 ? defaults.Rerank : Rerank);
}

/// <summary>What one query did.</summary>
/// <param name="Scored">Distinct items scored on codes.</param>
public readonly record struct ForestSearchStats(int Scored);
