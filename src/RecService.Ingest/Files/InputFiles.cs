using RecService.Core.Files;
namespace RecService.Ingest.Files;

/// <summary>Opens input files for reading, refusing anything but a regular file before it is opened (see <see cref="FileKinds"/>).</summary>
internal static class InputFiles
{
    public static FileStream OpenRead(string path)
    {
        if (FileKinds.NotRegular(path) is { } kind) throw new InvalidDataException($"{path}: not a regular file ({kind}); input files must be regular files.");
        return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }
}
