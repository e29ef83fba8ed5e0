using RecService.Core.Bundle;
using RecService.Core.Vectors;

namespace RecService.Models.Als;

/// <summary>
/// The implicit-ALS model family: what its parts hold (item factors; with user factors, Y^T Y; dot/cosine forests), how
/// its content is made for the writer (<see cref="Content"/>), and the checks a replica runs at open (<see cref="Validate"/>).
/// </summary>
public sealed class AlsFamily : IModelFamily
{
    public const string Name = "als";

    public static AlsFamily Instance { get; } = new();

    public string Family => Name;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{bundle.Directory}: ALS part {part.Name}: {what}.");
        }
        var parameters = part.Parameters<AlsParameters>();
        Require(parameters.Problem() is null, $"bad parameters: {parameters.Problem()}");
        var f = part.ItemFactors.Columns;
        Require(parameters.Factors == f, $"parameters say {parameters.Factors} factors, the item matrix has {f}");
        foreach (var role in part.Matrices.Keys) Require(role is PartRoles.UserFactors or PartRoles.ItemFactors, $"unknown matrix '{role}'");
        foreach (var role in part.Forests.Keys) Require(role is PartRoles.Dot or PartRoles.Cosine, $"unknown forest '{role}'");
        foreach (var role in part.Extras.Keys) Require(role is PartRoles.Gram, $"unknown extra '{role}'");
        // Fold-in solves against Y^T Y: a part with users needs it.
        Require(!part.Matrices.ContainsKey(PartRoles.UserFactors) || part.Extras.ContainsKey(PartRoles.Gram), "user factors without a Gram matrix");
    }

    /// <summary>
    /// An ALS part for the writer: item factors (items x f), user factors when given (rows x f, with Y^T Y for fold-in),
    /// and the forests asked for (trees from the bundle's forest settings for the part).
    /// </summary>
    public static PartContent Content(string name, string rows, string items, AlsParameters parameters, float[] itemFactors, int itemCount,
        float[]? userFactors, int userCount, IReadOnlyList<Metric> forests, IReadOnlyDictionary<string, double>? metrics = null)
    {
        var f = parameters.Factors;
        var matrices = new Dictionary<string, PartMatrix> { [PartRoles.ItemFactors] = new(itemFactors, itemCount, f) };
        var extras = new Dictionary<string, PartMatrix>();
        if (userFactors is not null)
        {
            matrices[PartRoles.UserFactors] = new(userFactors, userCount, f);
            extras[PartRoles.Gram] = new(FactorGram.Compute(itemFactors, itemCount, f), f, f);
        }
        return new PartContent
        {
            Name = name,
            Family = Name,
            Rows = rows,
            Items = items,
            Matrices = matrices,
            Extras = extras,
            Forests = forests.Select(m => new PartForest(m == Metric.Dot ? PartRoles.Dot : PartRoles.Cosine, m)).ToList(),
            Parameters = PartContent.ParametersOf(parameters),
            Metrics = metrics ?? new Dictionary<string, double>(),
        };
    }
}
