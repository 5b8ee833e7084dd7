using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Agora.Formats.Gguf;
using Agora.Inference;
using Agora.Inference.Generation;
using Agora.Inference.Sampling;
using Agora.Tensors;
using Agora.Tokenization.Gguf;

namespace Agora.Bench;

/// <summary>
/// Peak resident memory while generating, against the target "file size + KV cache + 10%".
/// <list type="bullet">
/// <item><c>memory [GB]</c>: writes a LLaMA-shaped float32 GGUF of about GB gigabytes (<see cref="SyntheticShape.Memory"/>)
/// with Agora's own writer and measures it.</item>
/// <item><c>memory MODEL.gguf [-p 128] [-n 64] [-c P+N]</c>: opens MODEL as <c>agora generate</c> does
/// (<see cref="LanguageModel.Load"/>), prefills p seeded random token ids, generates up to n tokens greedily in a
/// session of context c, and reports.</item>
/// <item><c>memory --vocab tokenizer.json</c>: writes that byte-level BPE vocabulary (tokens and merges) as the
/// metadata of a GGUF file and reports the managed memory its metadata and its tokenizer keep alive once loaded
/// (a real vocabulary, where the synthetic models have a made-up one).</item>
/// </list>
/// Weights are memory-mapped, so resident memory should be the file's pages the passes touched, the KV cache and
/// the runtime's own few tens of MB: never a second copy of any weight.
/// </summary>
static class MemoryBench
{
    public static int Run(string[] args)
    {
        if (args.Length == 2 && args[0] == "--vocab") return Vocabulary(args[1]);
        string path;
        int prompt = 128, tokens = 64, context = 0;
        if (args.Length == 0 || double.TryParse(args[0], NumberStyles.Float, CultureInfo.InvariantCulture, out _))
        {
            double gigabytes = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 1.0;
            path = Path.Combine(Path.GetTempPath(), $"agora-synthetic-memory-{gigabytes:F1}gb.gguf");
            if (!File.Exists(path)) SyntheticModel.Write(path, SyntheticShape.Memory(gigabytes), GgmlType.F32);
            (prompt, tokens) = (4, 4);
        }
        else
        {
            path = args[0];
            for (int i = 1; i + 1 < args.Length; i += 2)
            {
                int value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
                switch (args[i])
                {
                    case "-p": prompt = value; break;
                    case "-n": tokens = value; break;
                    case "-c": context = value; break;
                    default:
                        Console.Error.WriteLine("usage: memory [GB] | memory MODEL.gguf [-p 128] [-n 64] [-c P+N] | memory --vocab tokenizer.json");
                        return 2;
                }
            }
        }
        if (context == 0) context = prompt + tokens;
        return Measure(path, prompt, tokens, context);
    }

    static int Measure(string path, int prompt, int tokens, int context)
    {
        long fileBytes = new FileInfo(path).Length;
        GC.Collect();
        long before = Status("VmRSS");
        ResetPeak();
        var sw = Stopwatch.StartNew();
        using var lm = LanguageModel.Load(path);
        var c = lm.Config;
        // The cache at the context used: keys and values, float32, every layer.
        long kvBytes = 2L * sizeof(float) * c.LayerCount * c.KvHeadCount * c.HeadDim * context;
        var random = new Random(1);
        var ids = Enumerable.Range(0, prompt).Select(_ => random.Next(c.VocabSize)).ToArray();
        var generator = lm.CreateGenerator(context);
        var stream = generator.GenerateAsync(ids, new GenerationOptions { MaxTokens = tokens, Sampling = SamplerOptions.Greedy });
        Drain(stream).GetAwaiter().GetResult();
        var result = stream.Result;
        long peak = Status("VmHWM");
        long budget = (long)((fileBytes + kvBytes) * 1.1);
        Console.WriteLine($"{Path.GetFileName(path)}: file {fileBytes / 1e6:F1} MB, KV cache {kvBytes / 1e6:F1} MB at context {context}; " +
            $"prompt {prompt}, generated {result.TokenIds.Count} in {sw.Elapsed.TotalSeconds:F1} s");
        Console.WriteLine($"resident before load {before / 1e6:F1} MB; peak while generating {peak / 1e6:F1} MB; " +
            $"now {Status("RssFile") / 1e6:F1} MB mapped from files + {Status("RssAnon") / 1e6:F1} MB anonymous");
        Console.WriteLine($"target file + KV + 10% = {budget / 1e6:F1} MB: peak is {peak / (double)(fileBytes + kvBytes):P1} of file + KV, " +
            (peak <= budget ? "within" : "over") + " the target");
        return 0;
    }

    static int Vocabulary(string tokenizerJson)
    {
        var json = JsonNode.Parse(File.ReadAllText(tokenizerJson))!["model"]!;
        var tokens = json["vocab"]!.AsObject().OrderBy(p => (int)p.Value!).Select(p => p.Key).ToList();
        // Merges are "left right" lines or [left, right] pairs, depending on the tokenizers library's version.
        var merges = json["merges"]!.AsArray().Select(m => m is JsonArray pair ? $"{pair[0]} {pair[1]}" : (string)m!).ToList();
        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.String("llama"));
        writer.Add("tokenizer.ggml.model", GgufValue.String("gpt2"));
        writer.Add("tokenizer.ggml.pre", GgufValue.String("default"));
        writer.Add("tokenizer.ggml.tokens", GgufValue.StringArray(tokens));
        writer.Add("tokenizer.ggml.merges", GgufValue.StringArray(merges));
        var path = Path.Combine(Path.GetTempPath(), $"agora-vocabulary-{Environment.ProcessId}.gguf");
        File.WriteAllBytes(path, writer.ToBytes());
        try
        {
            long start = GC.GetTotalMemory(forceFullCollection: true);
            using var file = GgufFile.Open(path);
            long metadata = GC.GetTotalMemory(true) - start;
            var tokenizer = GgufTokenizerLoader.Load(file);
            long both = GC.GetTotalMemory(true) - start;
            Console.WriteLine($"{tokenizerJson}: {tokens.Count} tokens, {merges.Count} merges");
            Console.WriteLine($"managed memory kept: GGUF metadata {metadata / 1e6:F1} MB, tokenizer {(both - metadata) / 1e6:F1} MB, together {both / 1e6:F1} MB");
            GC.KeepAlive(tokenizer);
        }
        finally
        {
            File.Delete(path);
        }
        return 0;
    }

    static async Task Drain(GenerationStream stream)
    {
        await foreach (var _ in stream) { }
    }

    /// <summary>A size line of /proc/self/status, in bytes.</summary>
    internal static long Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {field}");
    }

    /// <summary>Linux resets the peak resident size (VmHWM) when 5 is written to clear_refs.</summary>
    static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");
}
