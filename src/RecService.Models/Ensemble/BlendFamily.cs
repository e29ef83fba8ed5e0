using RecService.Core.Bundle;

namespace RecService.Models.Ensemble;

/// <summary>How a blend was fitted: the space it ranks, the candidates per part it was trained on, its penalty, and
/// the held-out evidence its labels came from (stated for people reading the manifest).</summary>
public sealed record BlendParameters(string Space, int CandidatesPerPart, double L2, string Evidence)
{
    public string? Problem() =>
        Space is not (IdSpaces.Tracks or IdSpaces.Artists) ? $"space '{Space}' is not tracks or artists"
        : CandidatesPerPart < 1 ? $"candidates per part {CandidatesPerPart} not >= 1"
        : !(L2 >= 0) ? $"l2 {L2} not >= 0"
        : null;
}

/// <summary>
/// A learned blend of the parts' similarities (<see cref="EnsembleRanker"/>): a part whose item ids are the feature
/// names (<see cref="BlendFeatures"/>) and whose item matrix holds one weight per feature (features x 1). Opening
/// refuses a blend naming a feature this build does not know or a part the bundle lacks.
/// </summary>
public sealed class BlendFamily : IModelFamily
{
    public const string Name = "blend";

    public static BlendFamily Instance { get; } = new();

    public string Family => Name;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{bundle.Directory}: blend part {part.Name}: {what}.");
        }
        var parameters = part.Parameters<BlendParameters>();
        Require(parameters.Problem() is null, $"bad parameters: {parameters.Problem()}");
        Require(part.Matrices.Count == 1 && part.Forests.Count == 0 && part.Extras.Count == 0 && part.Sparse.Count == 0, "holds more than its weights");
        Require(part.ItemFactors.Columns == 1, $"weights are {part.ItemFactors.Rows} x {part.ItemFactors.Columns}, expected features x 1");
        try
        {
            EnsembleRanker.Of(bundle, part);
        }
        catch (InvalidDataException ex)
        {
            Require(false, ex.Message);
        }
    }

    /// <summary>A blend part for the writer: feature names as its items, one weight each.</summary>
    public static PartContent Content(string name, BlendParameters parameters, IReadOnlyList<string> features, ReadOnlySpan<float> weights,
        IReadOnlyDictionary<string, double> metrics) => new()
    {
        Name = name,
        Family = Name,
        ItemIds = features,
        Matrices = new Dictionary<string, PartMatrix> { [PartRoles.ItemFactors] = new(weights.ToArray(), features.Count, 1) },
        Parameters = PartContent.ParametersOf(parameters),
        Metrics = metrics,
    };
}
