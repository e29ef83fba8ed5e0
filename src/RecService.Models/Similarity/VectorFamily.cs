using RecService.Core.Bundle;
using RecService.Core.Vectors;

namespace RecService.Models.Similarity;

/// <summary>
/// The checks shared by families whose parts are item vectors with a cosine forest and nothing else (word2vec, BPR):
/// only the matrix, forest and parameters they name, dimensions matching the parameters.
/// </summary>
public static class VectorFamily
{
    public static void Validate(ModelBundle bundle, BundlePart part, string family, int dimensions, string? parameterProblem)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{bundle.Directory}: {family} part {part.Name}: {what}.");
        }
        Require(parameterProblem is null, $"bad parameters: {parameterProblem}");
        Require(part.Matrices.Count == 1 && part.Matrices.ContainsKey(PartRoles.ItemFactors), $"holds matrices other than {PartRoles.ItemFactors}");
        Require(part.Forests.Count == 1 && part.Forests.ContainsKey(PartRoles.Cosine), "needs exactly a cosine forest");
        Require(part.Extras.Count == 0 && part.Sparse.Count == 0, "holds extras or sparse matrices");
        Require(part.ItemFactors.Columns == dimensions, $"parameters say {dimensions} dimensions, the item matrix has {part.ItemFactors.Columns}");
        Require(part.Entry.Items is IdSpaces.Tracks or IdSpaces.Artists, $"items are '{part.Entry.Items}', not tracks or artists");
    }

    /// <summary>A part of item vectors (items x dimensions, a zero row for an item the part lacks) with a cosine forest, for the writer.</summary>
    public static PartContent Content<TParameters>(string name, string family, string items, float[] vectors, int count, int dimensions, TParameters parameters) => new()
    {
        Name = name,
        Family = family,
        Items = items,
        Matrices = new Dictionary<string, PartMatrix> { [PartRoles.ItemFactors] = new(vectors, count, dimensions) },
        Forests = [new PartForest(PartRoles.Cosine, Metric.Cosine)],
        Parameters = PartContent.ParametersOf(parameters),
    };
}
