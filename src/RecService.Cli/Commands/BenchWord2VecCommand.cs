using System.CommandLine;
using RecService.Core.Sampling;
using RecService.Training.Word2Vec;

namespace RecService.Cli.Commands;

/// <summary>
/// `rec bench word2vec`: skip-gram training speed in tokens per second per thread, on a text corpus (one sequence
/// per line, whitespace-separated tokens: the format the reference word2vec tool reads, so both can train on one
/// file) or on a generated one (Zipf-distributed tokens in topical sequences), which <c>--export</c> writes as text.
/// </summary>
public static class BenchWord2VecCommand
{
    public static Command Create()
    {
        var corpus = new Option<string?>("--corpus") { Description = "Text corpus: one sequence per line, tokens separated by whitespace (default: generate one)." };
        var export = new Option<string?>("--export") { Description = "Write the generated corpus to this text file and exit." };
        var vocabulary = new Option<int>("--vocabulary") { Description = "Generated corpus: distinct tokens.", DefaultValueFactory = _ => 20_000 };
        var tokens = new Option<long>("--tokens") { Description = "Generated corpus: tokens in all.", DefaultValueFactory = _ => 4_000_000 };
        var length = new Option<int>("--length") { Description = "Generated corpus: mean sequence length.", DefaultValueFactory = _ => 20 };
        var dims = new Option<int>("--dims") { DefaultValueFactory = _ => 64 };
        var window = new Option<int>("--window") { DefaultValueFactory = _ => 5 };
        var negatives = new Option<int>("--negatives") { DefaultValueFactory = _ => 5 };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 5 };
        var subsample = new Option<double>("--subsample") { DefaultValueFactory = _ => 1e-3 };
        var threads = new Option<int>("--threads") { Description = "0 = one per core.", DefaultValueFactory = _ => 0 };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 42 };
        var command = new Command("word2vec", "Time skip-gram word2vec training: tokens/s per thread.")
        {
            corpus, export, vocabulary, tokens, length, dims, window, negatives, epochs, subsample, threads, seed,
        };
        command.SetAction(parse =>
        {
            var path = parse.GetValue(corpus);
            var sequences = path is null
                ? Generate(parse.GetValue(vocabulary), parse.GetValue(tokens), parse.GetValue(length), parse.GetValue(seed))
                : Read(path);
            if (parse.GetValue(export) is { } target)
            {
                Write(sequences, target);
                Console.WriteLine($"wrote {sequences.Count:N0} sequences, {sequences.TokenCount:N0} tokens to {target}");
                return 0;
            }
            var options = new Word2VecOptions
            {
                Dimensions = parse.GetValue(dims), Window = parse.GetValue(window), Negatives = parse.GetValue(negatives),
                Epochs = parse.GetValue(epochs), Subsample = parse.GetValue(subsample), Threads = parse.GetValue(threads), Seed = parse.GetValue(seed),
            };
            Console.WriteLine($"corpus {path ?? "generated"}: {sequences.Count:N0} sequences, {sequences.TokenCount:N0} tokens, vocabulary {sequences.Vocabulary:N0}; " +
                $"dims {options.Dimensions}, window {options.Window}, negatives {options.Negatives}, epochs {options.Epochs}, subsample {options.Subsample}, threads {options.EffectiveThreads}");
            var model = new Word2VecTrainer(options).Fit(sequences);
            var s = model.Stats;
            Console.WriteLine($"trained in {s.Seconds:F2} s: {s.TokensRead:N0} tokens read, {s.TokensTrained:N0} kept after down-sampling, {s.Pairs:N0} pairs");
            Console.WriteLine($"{s.TokensPerSecondPerThread:N0} tokens/s per thread ({s.TokensRead / s.Seconds:N0} tokens/s on {s.Threads} threads)");
            return 0;
        });
        return command;
    }

    /// <summary>Topical sequences: each picks one of 200 topics, whose tokens are a Zipf-weighted slice of the vocabulary,
    /// with one token in ten drawn from the whole vocabulary's Zipf law.</summary>
    private static TokenSequences Generate(int vocabulary, long tokens, int meanLength, ulong seed)
    {
        const int Topics = 200;
        var rng = new Xoshiro256(seed);
        var zipf = new double[vocabulary];
        for (var i = 0; i < vocabulary; i++) zipf[i] = 1.0 / (i + 1);
        var global = new AliasTable(zipf);
        var perTopic = Math.Max(1, vocabulary / Topics);
        var local = new AliasTable(zipf.AsSpan(0, perTopic));
        // Topic t owns every Topics-th token from t, so each topic has frequent and rare tokens.
        var offsets = new List<long> { 0 };
        var all = new List<int>();
        while (all.Count < tokens)
        {
            var topic = rng.NextInt(Topics);
            var n = 1 + rng.NextInt(2 * meanLength - 1);
            for (var i = 0; i < n && all.Count < tokens; i++)
            {
                var t = rng.NextInt(10) == 0 ? global.Sample(rng.NextUInt64()) : Math.Min(vocabulary - 1, topic + Topics * local.Sample(rng.NextUInt64()));
                all.Add(t);
            }
            offsets.Add(all.Count);
        }
        return new TokenSequences(vocabulary, [.. offsets], [.. all]);
    }

    private static TokenSequences Read(string path)
    {
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        var offsets = new List<long> { 0 };
        var all = new List<int>();
        foreach (var line in File.ReadLines(path))
        {
            foreach (var word in line.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries))
            {
                if (!ids.TryGetValue(word, out var id)) ids[word] = id = ids.Count;
                all.Add(id);
            }
            if (all.Count > offsets[^1]) offsets.Add(all.Count);
        }
        return new TokenSequences(ids.Count, [.. offsets], [.. all]);
    }

    private static void Write(TokenSequences sequences, string path)
    {
        using var writer = new StreamWriter(path);
        for (var s = 0; s < sequences.Count; s++)
        {
            var seq = sequences[s];
            for (var i = 0; i < seq.Length; i++)
            {
                if (i > 0) writer.Write(' ');
                writer.Write('t');
                writer.Write(seq[i]);
            }
            writer.Write('\n');
        }
    }
}
