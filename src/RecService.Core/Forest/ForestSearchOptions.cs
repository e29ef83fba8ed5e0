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
    /// <summary>Every field at the index's default. (A bare <c>new()</c> of this struct is all zeros, not the defaults.)</summary>
    public static ForestSearchOptions Default => new(-1, -1, -1);

    /// <summary>
    /// The defaults for a metric: the search size, early-stop slack and re-rank count tuned per metric, with the
    /// measurements behind them in Forest/FORMAT.md. Measure a real model with <c>rec index bench</c>.
    /// </summary>
    public static ForestSearchOptions For(Metric metric) => metric == Metric.Dot
        ? new(1500, 28f, 20)
        : new(6000, 28f, ForestIndex.ExhaustiveRerankCount);

    /// <summary>A search size tuned for 10 results (the defaults, a tuned header, <c>Serving:Search:SearchK</c>) scaled for
    /// <paramref name="count"/> results: longer lists need proportionally more candidates.</summary>
    public static int ScaledSearchK(int per10, int count) => (int)Math.Min(int.MaxValue, (long)per10 * Math.Max(10, count) / 10);

    /// <summary>These options with every negative field replaced by <paramref name="defaults"/>'s.</summary>
    public ForestSearchOptions Or(in ForestSearchOptions defaults) => new(
        SearchK < 0 ? defaults.SearchK : SearchK,
        StopSlack < 0 ? defaults.StopSlack : StopSlack,
        Rerank < 0 ? defaults.Rerank : Rerank);
}

/// <summary>What one query did.</summary>
/// <param name="Scored">Distinct items scored on codes.</param>
public readonly record struct ForestSearchStats(int Scored);
