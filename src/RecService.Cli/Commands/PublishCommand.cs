using System.CommandLine;
using RecService.Core.Bundle;
using RecService.Models;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec publish --from DIR`: republishes an existing bundle directory (a rollback to an older version, a restored
/// backup) as a new version of a models directory. The source is fully verified first; the copy is published like a
/// trained bundle (staging, manifest last, atomic CURRENT), so replicas swap to it as to any new model.
/// </summary>
public static class PublishCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "The bundle directory to republish (holds manifest.json).", Required = true };
        var models = new Option<string>("--models") { Description = "Models directory to publish into.", DefaultValueFactory = _ => "models" };
        var keep = new Option<int>("--keep") { Description = "Versions to keep after publishing (0 = prune nothing).", DefaultValueFactory = _ => 0 };

        var command = new Command("publish", "Republish a verified bundle directory as the new current version (rollback, restore).") { from, models, keep };
        command.SetAction(parse =>
        {
            var source = Path.GetFullPath(parse.GetValue(from)!);
            if (!Directory.Exists(source)) throw new DirectoryNotFoundException($"{source}: no such bundle directory.");
            var store = new BundleStore(parse.GetValue(models)!);
            var manifest = store.Republish(source, KnownFamilies.All);
            Console.WriteLine($"published {manifest.ModelVersion} from {source} (model {manifest.Training[BundleStore.RepublishedFromKey]}); CURRENT -> {manifest.ModelVersion}");
            if (parse.GetValue(keep) is > 0 and var n)
            {
                var pruned = store.Prune(n);
                if (pruned.Count > 0) Console.WriteLine($"pruned {string.Join(", ", pruned)}");
            }
            return 0;
        });
        return command;
    }
}
