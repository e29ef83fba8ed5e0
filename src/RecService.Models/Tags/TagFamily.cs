using RecService.Core.Bundle;

namespace RecService.Models.Tags;

/// <summary>What defines a tag part: how many nearest items it keeps per item, and the tag posting bound used to find them.</summary>
public sealed record TagParameters(int Neighbours, int MaxPosting)
{
    public static TagParameters Defaults { get; } = new(100, 5_000);

    public string? Problem() =>
        Neighbours is < 1 or > 10_000 ? $"neighbours {Neighbours} not in 1..10000"
        : MaxPosting < 1 ? $"max posting {MaxPosting} not >= 1"
        : null;
}

/// <summary>
/// The "cultural" family: items described by the tags listeners gave them. A part holds two sparse matrices, both one
/// row per item: <see cref="Weights"/> (items x tags, TF-IDF weighted unit rows, so a merge of two rows is their cosine)
/// and <see cref="Neighbours"/> (items x items: each item's nearest items by that cosine, best first). No dense vectors,
/// no forest: the neighbours are exact, found offline through the tags' posting lists.
/// </summary>
public sealed class TagFamily : IModelFamily
{
    public const string Name = "tags";
    public const string Weights = "tag-weights";
    public const string Neighbours = "neighbours";

    public static TagFamily Instance { get; } = new();

    public string Family => Name;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        void Require(bool ok, string what)
        {
            if (!ok) throw new InvalidDataException($"{bundle.Directory}: tag part {part.Name}: {what}.");
        }
        var parameters = part.Parameters<TagParameters>();
        Require(parameters.Problem() is null, $"bad parameters: {parameters.Problem()}");
        Require(part.Matrices.Count == 0 && part.Forests.Count == 0 && part.Extras.Count == 0, "holds dense matrices, forests or extras");
        Require(part.Sparse.TryGetValue(Weights, out _), $"has no sparse '{Weights}'");
        Require(part.Sparse.TryGetValue(Neighbours, out var near), $"has no sparse '{Neighbours}'");
        foreach (var role in part.Sparse.Keys) Require(role is Weights or Neighbours, $"unknown sparse matrix '{role}'");
        Require(near!.Columns == part.Items.Count, $"{Neighbours} is {near.Rows} x {near.Columns}, expected items x items ({part.Items.Count})");
    }
}
