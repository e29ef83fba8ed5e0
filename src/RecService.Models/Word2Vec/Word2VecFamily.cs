using RecService.Core.Bundle;
using RecService.Models.Similarity;

namespace RecService.Models.Word2Vec;

/// <summary>What defines a word2vec part: the skip-gram settings and the corpus it was trained on.</summary>
/// <param name="Sources">What the sequences were: "playlists", "sessions" or both, comma-separated.</param>
public sealed record Word2VecParameters(int Dimensions, int Window, int Negatives, int Epochs, double Subsample, string Sources)
{
    public string? Problem() =>
        Dimensions is < 1 or > 1024 ? $"dimensions {Dimensions} not in 1..1024"
        : Window is < 1 or > 1000 ? $"window {Window} not in 1..1000"
        : Negatives is < 1 or > 100 ? $"negatives {Negatives} not in 1..100"
        : Epochs < 1 ? $"epochs {Epochs} not >= 1"
        : !(Subsample >= 0 && Subsample < 1) ? $"subsample {Subsample} not in [0, 1)"
        : null;
}

/// <summary>
/// Skip-gram embeddings of tracks or artists from playlists and listening sessions: item vectors (a zero row for an
/// item no sequence holds) and a cosine forest. Served through <see cref="CosineVectors"/>.
/// </summary>
public sealed class Word2VecFamily : IModelFamily
{
    public const string Name = "word2vec";

    public static Word2VecFamily Instance { get; } = new();

    public string Family => Name;

    public void Validate(ModelBundle bundle, BundlePart part)
    {
        var parameters = part.Parameters<Word2VecParameters>();
        VectorFamily.Validate(bundle, part, Name, parameters.Dimensions, parameters.Problem());
    }
}
