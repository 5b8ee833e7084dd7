using System.Diagnostics;
using Agora.Tokenization;

namespace Agora.Bench;

/// <summary>
/// `tokenize [tokenizer.json]`: encodes a few MB of English prose several times on one thread and prints tokens/s
/// (median and spread). Defaults to the llama3 fixture tokenizer.
/// </summary>
static class TokenizeQuick
{
    public static int Run(string[] args)
    {
        var path = args.Length > 0 ? args[0] : BenchFixtures.Path("tokenizers", "llama3", "tokenizer.json");
        var load = Stopwatch.StartNew();
        var tok = Tokenizer.FromFile(path);
        Console.WriteLine($"loaded {path} in {load.Elapsed.TotalMilliseconds:F0} ms (vocab {tok.VocabSize})");

        var text = BenchFixtures.Prose(4 << 20);
        var ids = new List<int>(text.Length);
        tok.Encode(text, ids, addSpecialTokens: false); // warm-up: JIT and the piece cache
        var rates = new List<double>();
        for (int run = 0; run < 7; run++)
        {
            ids.Clear();
            var sw = Stopwatch.StartNew();
            tok.Encode(text, ids, addSpecialTokens: false);
            sw.Stop();
            rates.Add(ids.Count / sw.Elapsed.TotalSeconds);
        }
        rates.Sort();
        Console.WriteLine($"{text.Length / 1e6:F1} M chars -> {ids.Count / 1e6:F2} M tokens per run, 7 runs, one thread");
        Console.WriteLine($"tokens/s: median {rates[3] / 1e6:F2} M (min {rates[0] / 1e6:F2} M, max {rates[^1] / 1e6:F2} M)");
        return 0;
    }
}
