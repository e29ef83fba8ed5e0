using System.CommandLine;

namespace RecService.Cli;

/// <summary>Runs the parsed command and turns expected failures into one clear line and exit code 2.</summary>
public static class CliRunner
{
    public static async Task<int> RunAsync(RootCommand root, string[] args)
    {
        try
        {
            // Our own handler below prints expected failures as one line; System.CommandLine's default would print a stack trace.
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception ex) when (ex is InvalidDataException or FileNotFoundException or DirectoryNotFoundException or ArgumentException or InvalidOperationException or IOException
                                       or Microsoft.Extensions.Options.OptionsValidationException)
        {
            Console.Error.WriteLine($"rec: error: {ex.Message}");
            return 2;
        }
    }
}
