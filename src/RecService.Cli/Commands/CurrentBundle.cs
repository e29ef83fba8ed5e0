using RecService.Core.Bundle;
using RecService.Models;

namespace RecService.Cli.Commands;

/// <summary>The bundle a models directory's <c>CURRENT</c> names, opened as a replica opens it (every family's checks):
/// what the commands that read a published model start from.</summary>
internal static class CurrentBundle
{
    public static ModelBundle Open(string models)
    {
        var store = new BundleStore(models);
        var version = store.CurrentVersion() ?? throw new InvalidDataException($"{store.Root}: no CURRENT model.");
        return ModelBundle.Open(store.PathOf(version), families: KnownFamilies.All);
    }
}
