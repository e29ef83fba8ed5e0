using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using RecService.Ingest.Logs;
using Xunit.Abstractions;

namespace RecService.Ingest.Tests;

/// <summary>
/// Random and mutated TSV, TSV.gz and Parquet files through the public reader registry: each is read or refused with
/// an <see cref="InvalidDataException"/> or <see cref="IOException"/> naming the file; nothing else is thrown, nothing
/// hangs, and what is read is finite. Seeded and bounded in count and time.
/// </summary>
public class PlayLogFuzzTests(ITestOutputHelper output)
{
    private const int Seed = 18;
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(4);
    private static readonly TimeSpan PerInput = TimeSpan.FromSeconds(10);

    private static readonly string[] Tokens =
    [
        "\t", "\n", "\r\n", "\r", "\0", "\u001b", "user_id\t", "\uFEFF", "1e308", "-1", "NaN", "Infinity", "1e39", "999999999999",
        "0", "0.5", "é", "\U0001F600", "\t\t\t", new string('x', 300), "user_id\ttrack_id\tplays\n",
    ];

    [Fact]
    public async Task Mutated_inputs_are_read_or_refused_by_name()
    {
        using var dir = new TempDirectory();
        var random = new Random(Seed);
        var clock = Stopwatch.StartNew();
        var baseTsv = BaseTsv(random);
        var baseGzip = Gzip(baseTsv);
        var baseParquetPath = Path.Combine(dir.Path, "base.parquet");
        var n = 400;
        await ParquetPlayLogReader.WriteAsync(baseParquetPath, [.. Enumerable.Range(0, n).Select(i => $"u{i % 37}")],
            [.. Enumerable.Range(0, n).Select(i => $"t{i % 23}")], Enumerable.Range(0, n).Select(i => i % 5).ToArray());
        var baseParquet = await File.ReadAllBytesAsync(baseParquetPath);

        var counts = new Dictionary<string, (int Inputs, int Read, int Refused)> { ["tsv"] = default, ["tsv.gz"] = default, ["parquet"] = default };
        var caps = new Dictionary<string, int> { ["tsv"] = 3000, ["tsv.gz"] = 1500, ["parquet"] = 600 };
        var index = 0;
        foreach (var kind in counts.Keys.ToList())
        {
            // Each kind gets its share of the time budget, so a slow reader does not starve the others.
            var until = clock.Elapsed + Budget / counts.Count;
            while (clock.Elapsed < until && counts[kind].Inputs < caps[kind])
            {
                var bytes = kind switch
                {
                    "tsv" => Mutate(random, baseTsv),
                    // Half the gzip inputs are valid gzip of mutated text (the TSV rules behind it), half mutated gzip bytes.
                    "tsv.gz" => random.Next(2) == 0 ? Gzip(Mutate(random, baseTsv)) : Mutate(random, baseGzip, tokens: false),
                    // Half the Parquet inputs are valid files of odd ids and plays, half mutated bytes.
                    _ => random.Next(2) == 0 ? null : Mutate(random, baseParquet, tokens: false),
                };
                var path = Path.Combine(dir.Path, $"fuzz-{index++}.{kind}");
                if (bytes is null) await WriteOddParquetAsync(random, path);
                else await File.WriteAllBytesAsync(path, bytes);
                var read = await ReadOrRefuseAsync(path);
                var c = counts[kind];
                counts[kind] = (c.Inputs + 1, c.Read + (read ? 1 : 0), c.Refused + (read ? 0 : 1));
                File.Delete(path);
            }
        }
        foreach (var (kind, c) in counts) output.WriteLine($"fuzz {kind}: {c.Inputs} inputs, {c.Read} read, {c.Refused} refused by name");
        output.WriteLine($"fuzz total: {counts.Values.Sum(c => c.Inputs)} inputs in {clock.Elapsed.TotalSeconds:F1} s (seed {Seed})");
        Assert.All(counts.Values, c => Assert.True(c.Inputs >= 20, "too few inputs ran to mean anything"));
    }

    /// <summary>True when read, false when refused cleanly; anything else fails the test.</summary>
    private static async Task<bool> ReadOrRefuseAsync(string path)
    {
        var aggregator = new PlayAggregator(bufferRows: 1024);
        try
        {
            await PlayLogFormats.Default.ReadAsync(path, aggregator).WaitAsync(PerInput);
        }
        catch (TimeoutException)
        {
            Assert.Fail($"{path}: the read did not finish in {PerInput.TotalSeconds} s");
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException)
        {
            Assert.Contains(path, ex.Message);
            return false;
        }
        var m = aggregator.Build();
        Assert.All(m.UserTrack.Values, v => Assert.True(float.IsFinite(v) && v > 0, $"{path}: value {v} reached the matrix"));
        Assert.All(m.Users.Ids, id => Assert.DoesNotContain(id, c => char.IsControl(c) || c == '\uFFFD'));
        Assert.All(m.Tracks.Ids, id => Assert.DoesNotContain(id, c => char.IsControl(c) || c == '\uFFFD'));
        return true;
    }

    private static async Task WriteOddParquetAsync(Random random, string path)
    {
        var rows = random.Next(1, 60);
        string Id() => random.Next(3) == 0 ? Tokens[random.Next(Tokens.Length)] + random.Next(10) : $"id{random.Next(20)}";
        await ParquetPlayLogReader.WriteAsync(path, [.. Enumerable.Range(0, rows).Select(_ => Id())], [.. Enumerable.Range(0, rows).Select(_ => Id())],
            Enumerable.Range(0, rows).Select(_ => random.Next(8) == 0 ? random.Next(int.MinValue, int.MaxValue) : random.Next(0, 10)).ToArray());
    }

    private static byte[] BaseTsv(Random random)
    {
        var text = new StringBuilder("user_id\ttrack_id\tplays\n");
        for (var i = 0; i < 300; i++) text.Append($"user{random.Next(50)}\ttrack{random.Next(40)}\t{random.Next(1, 9)}\n");
        return Encoding.UTF8.GetBytes(text.ToString());
    }

    private static byte[] Gzip(byte[] data)
    {
        using var buffer = new MemoryStream();
        using (var gzip = new GZipStream(buffer, CompressionLevel.Fastest)) gzip.Write(data);
        return buffer.ToArray();
    }

    /// <summary>A few random edits: flipped bytes, inserted tokens, cut or repeated spans; sometimes noise alone.</summary>
    private static byte[] Mutate(Random random, byte[] input, bool tokens = true)
    {
        if (random.Next(20) == 0)
        {
            var noise = new byte[random.Next(0, 2048)];
            random.NextBytes(noise);
            return noise;
        }
        var data = new List<byte>(input);
        var edits = random.Next(1, 8);
        for (var e = 0; e < edits && data.Count > 0; e++)
        {
            var at = random.Next(data.Count);
            switch (random.Next(tokens ? 5 : 4))
            {
                case 0:
                    data[at] = (byte)random.Next(256);
                    break;
                case 1:
                    data.RemoveRange(at, Math.Min(random.Next(1, 64), data.Count - at));
                    break;
                case 2:
                    data.RemoveRange(at, data.Count - at); // truncation
                    break;
                case 3:
                    var length = Math.Min(random.Next(1, 256), data.Count - at);
                    data.InsertRange(random.Next(data.Count), data.GetRange(at, length));
                    break;
                default:
                    data.InsertRange(at, Encoding.UTF8.GetBytes(Tokens[random.Next(Tokens.Length)]));
                    break;
            }
        }
        return [.. data];
    }
}
