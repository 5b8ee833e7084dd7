using System.Diagnostics;
using Agora.Tokenization;

namespace Agora.Bench;

/// <summary>
/// `tokenize [tokenizer.json] [text-file]`: single-threaded encode speed on English prose (default: the llama3
/// fixture tokenizer on the held-out KJV text repeated to 4 MB). Reports two figures, 7 runs each:
/// cold — a freshly loaded tokenizer meeting the text for the first time (empty piece cache, JIT already warm);
/// warm — the same tokenizer encoding the text again.
/// </summary>
static class TokenizeQuick
{
    const int Runs = 7;

    public static int Run(string[] args)
    {
        var path = args.Length > 0 ? args[0] : BenchFixtures.Path("tokenizers", "llama3", "tokenizer.json");
        var text = args.Length > 1 ? File.ReadAllText(args[1]) : BenchFixtures.Prose(4 << 20);
        var ids = new List<int>(text.Length);

        // Warm the JIT on other text so the cold figure measures the tokenizer, not the compiler.
        Tokenizer.FromFile(path).Encode(BenchFixtures.Prose(1 << 16), ids, addSpecialTokens: false);

        var cold = new List<double>();
        var warm = new List<double>();
        Tokenizer tok = null!;
        for (int run = 0; run < Runs; run++)
        {
            tok = Tokenizer.FromFile(path);
            cold.Add(Rate(tok, text, ids));
            warm.Add(Rate(tok, text, ids));
        }
        Console.WriteLine($"{path}: vocab {tok.VocabSize}");
        Console.WriteLine($"{text.Length / 1e6:F2} M chars -> {ids.Count / 1e6:F2} M tokens per pass, {Runs} runs, one thread");
        Report("cold (first pass)", cold);
        Report("warm (cached)", warm);
        return 0;
    }

    static double Rate(Tokenizer tok, string text, List<int> ids)
    {
        ids.Clear();
        var sw = Stopwatch.StartNew();
        tok.Encode(text, ids, addSpecialTokens: false);
        return ids.Count / sw.Elapsed.TotalSeconds;
    }

    static void Report(string label, List<double> rates)
    {
        rates.Sort();
        Console.WriteLine($"{label,-18} tokens/s: median {rates[rates.Count / 2] / 1e6:F2} M (min {rates[0] / 1e6:F2} M, max {rates[^1] / 1e6:F2} M)");
    }
}
