using RecService.Models.Als;

namespace RecService.Models.Ensemble;

/// <summary>The part names the training pipeline gives the ensemble's models (the ALS ones are <see cref="AlsParts"/>').</summary>
public static class EnsembleParts
{
    public const string BprTracks = "bpr-tracks";
    public const string BprArtists = "bpr-artists";
    public const string Word2VecTracks = "w2v-tracks";
    public const string Word2VecArtists = "w2v-artists";
    public const string TagArtists = "tags-artists";
    public const string CooccurrenceArtists = "cooc-artists";
    /// <summary>The blend ranking tracks (SimilarTracks, radio) and the one ranking artists (RelatedArtists).</summary>
    public const string BlendTracks = "blend-tracks";
    public const string BlendArtists = "blend-artists";

    /// <summary>The request option's name for the blended answer (<c>model=ensemble</c>, the default when a bundle has a blend).</summary>
    public const string Ensemble = "ensemble";

    /// <summary>The blend part for a catalog space.</summary>
    public static string BlendFor(string space) => space == Core.Bundle.IdSpaces.Tracks ? BlendTracks : BlendArtists;
}
