using RecService.Core.Bundle;
using RecService.Models.Als;
using RecService.Models.Bpr;
using RecService.Models.Cooccurrence;
using RecService.Models.Ensemble;
using RecService.Models.Tags;
using RecService.Models.Word2Vec;

namespace RecService.Models;

/// <summary>The model families this build knows, for <see cref="ModelBundle.Open"/>. A new family is one class plus a line here.</summary>
public static class KnownFamilies
{
    public static ModelFamilies All { get; } = new([AlsFamily.Instance, BprFamily.Instance, Word2VecFamily.Instance, TagFamily.Instance, CooccurrenceFamily.Instance, BlendFamily.Instance]);
}
