namespace RecService.Core.Vectors;

/// <summary>How two vectors are compared. The numeric values are stored in index files: never renumber.</summary>
public enum Metric
{
    /// <summary>Cosine similarity: q·y / (|q| |y|). Used for SimilarTracks and RelatedArtists.</summary>
    Cosine = 1,

    /// <summary>Inner product q·y (maximum inner product search). Used for Recommend (user vector against track vectors).</summary>
    Dot = 2,
}
