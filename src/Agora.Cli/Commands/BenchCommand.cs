using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Agora.Formats.Checkpoint;
using Agora.Inference;
using Agora.Models;
using Agora.Tensors.Threading;
using Agora.Tensors;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora bench MODEL</c>: prompt-processing and generation speed the way llama-bench measures them. pp: one
/// prefill of p random tokens into an empty session. tg: n single-token steps into an empty session, each token
/// random. Each test runs once untimed (JIT and page warm-up), then r timed times; tokens/s is reported as the mean
/// and sample standard deviation of the r runs. As in llama-bench, <c>-p 0</c> or <c>-n 0</c> leaves that test out.
/// </summary>
public static class BenchCommand
{
    const int Seed = 1;

    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("MODEL") { Description = "A GGUF file or a Hugging Face folder" };
        var prompt = new Option<int>("-p", "--n-prompt") { Description = "Prompt tokens for the pp test (0: no pp test)", DefaultValueFactory = _ => 128 };
        var generate = new Option<int>("-n", "--n-gen") { Description = "Generated tokens for the tg test (0: no tg test)", DefaultValueFactory = _ => 64 };
        var threads = new Option<int>("-t", "--threads") { Description = "Worker threads", DefaultValueFactory = _ => 2 };
        var repetitions = new Option<int>("-r", "--repetitions") { Description = "Timed runs of each test", DefaultValueFactory = _ => 3 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table" };
        var command = new Command("bench", "Measure prompt processing (pp) and generation (tg) speed in tokens/s, like llama-bench")
        {
            model, prompt, generate, threads, repetitions, json,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            int p = Count(parse, prompt, "-p", 0), n = Count(parse, generate, "-n", 0);
            int t = Count(parse, threads, "-t", 1), r = Count(parse, repetitions, "-r", 1);
            if (p == 0 && n == 0) throw new AgoraException("nothing to measure: -p and -n are both 0");
            string path = parse.GetValue(model)!;
            using var checkpoint = Checkpoint.Open(path);
            var transformer = TransformerModel.Load(checkpoint, rowOrder: WeightRowOrder.AsStored);
            WorkerPool.SetSharedThreads(t);
            var results = new List<(string Test, Result Result)>();
            if (p > 0) results.Add(("pp", Measure(transformer, p, r, PromptRun)));
            if (n > 0) results.Add(("tg", Measure(transformer, n, r, GenerationRun)));
            var info = new ModelInfo(checkpoint);
            if (parse.GetValue(json)) PrintJson(terminal.Out, info, t, results);
            else PrintTable(terminal.Out, info, t, results);
            return 0;
        }));
        return command;
    }

    public sealed record Result(int Tokens, double Mean, double StandardDeviation);

    static int Count(ParseResult parse, Option<int> option, string name, int least) => parse.GetValue(option) is var v && v >= least
        ? v : throw new AgoraException($"{name} must be {(least == 0 ? "0 or more" : "a positive number")}, not {v}");

    /// <summary>One timed run of a test: the seconds it took.</summary>
    delegate double Run(TransformerModel model, int[] tokens, float[] logits);

    static Result Measure(TransformerModel model, int tokens, int repetitions, Run run)
    {
        var random = new Random(Seed);
        var ids = new int[tokens];
        var logits = new float[model.VocabSize];
        var rates = new double[repetitions];
        // Untimed runs first, until WarmUpSeconds have passed or WarmUpRuns were made (at least one): the JIT
        // recompiles hot methods fully optimized in the background only after they have run a while, so a single
        // short run left the first timed runs on slower code.
        double warmedUp = 0;
        for (int i = 0; i < 1 || warmedUp < WarmUpSeconds && i < WarmUpRuns; i++) warmedUp += run(model, RandomIds(random, ids, model.VocabSize), logits);
        for (int i = 0; i < repetitions; i++) rates[i] = tokens / run(model, RandomIds(random, ids, model.VocabSize), logits);
        double mean = rates.Average();
        double sd = repetitions > 1 ? Math.Sqrt(rates.Sum(x => (x - mean) * (x - mean)) / (repetitions - 1)) : 0;
        return new Result(tokens, mean, sd);
    }

    const double WarmUpSeconds = 3;
    const int WarmUpRuns = 10;

    static int[] RandomIds(Random random, int[] ids, int vocabulary)
    {
        for (int k = 0; k < ids.Length; k++) ids[k] = random.Next(vocabulary);
        return ids;
    }

    static double PromptRun(TransformerModel model, int[] tokens, float[] logits)
    {
        var session = model.CreateSession(tokens.Length);
        var sw = Stopwatch.StartNew();
        session.Evaluate(tokens, logits);
        return sw.Elapsed.TotalSeconds;
    }

    static double GenerationRun(TransformerModel model, int[] tokens, float[] logits)
    {
        var session = model.CreateSession(tokens.Length);
        var sw = Stopwatch.StartNew();
        for (int i = 0; i < tokens.Length; i++) session.Evaluate(tokens.AsSpan(i, 1), logits);
        return sw.Elapsed.TotalSeconds;
    }

    /// <summary>What the table says about the model: file name, bytes and count of weights, the dominant weight type.</summary>
    sealed record ModelInfo(string Name, long Bytes, long Parameters, GgmlType Type)
    {
        public ModelInfo(Checkpoint checkpoint) : this(
            Path.GetFileName(Path.TrimEndingDirectorySeparator(checkpoint.Path)),
            checkpoint.Tensors.Sum(t => t.ByteSize),
            checkpoint.Tensors.Sum(t => t.ElementCount),
            // The type holding the most weights, as a quantization mixture (Q4_K_M) is named by its main type.
            checkpoint.Tensors.GroupBy(t => t.Type).MaxBy(g => g.Sum(t => t.ElementCount))?.Key ?? GgmlType.F32)
        {
        }
    }

    static void PrintJson(TextWriter o, ModelInfo info, int threads, List<(string Test, Result Result)> results)
    {
        var result = new JsonObject();
        foreach (var (test, r) in results)
            result[test] = new JsonObject { ["tokens"] = r.Tokens, ["mean"] = Round(r.Mean), ["sd"] = Round(r.StandardDeviation) };
        result["threads"] = threads;
        result["model"] = info.Name;
        result["type"] = info.Type.ToString();
        o.WriteLine(result.ToJsonString());
    }

    static double Round(double v) => Math.Round(v, 3);

    static void PrintTable(TextWriter o, ModelInfo info, int threads, List<(string Test, Result Result)> rows)
    {
        string[] header = ["model", "size", "params", "type", "threads", "test", "t/s"];
        var lines = rows.Select(row => new[]
        {
            info.Name,
            $"{info.Bytes / (double)(1L << 20):F2} MiB",
            Count(info.Parameters),
            info.Type.ToString(),
            threads.ToString(CultureInfo.InvariantCulture),
            $"{row.Test}{row.Result.Tokens}",
            string.Create(CultureInfo.InvariantCulture, $"{row.Result.Mean:F2} ± {row.Result.StandardDeviation:F2}"),
        }).ToList();
        var widths = header.Select((h, c) => Math.Max(h.Length, lines.Max(l => l[c].Length))).ToArray();
        // Text columns left-aligned, numbers right-aligned, as llama-bench's markdown table.
        string Format(string[] cells) => "| " + string.Join(" | ", cells.Select((s, c) => c is 0 or 3 or 5 ? s.PadRight(widths[c]) : s.PadLeft(widths[c]))) + " |";
        o.WriteLine(Format(header));
        o.WriteLine("| " + string.Join(" | ", widths.Select((w, c) => c is 0 or 3 or 5 ? new string('-', w) : new string('-', w - 1) + ":")) + " |");
        foreach (var line in lines) o.WriteLine(Format(line));
    }

    static string Count(long n) => n switch
    {
        >= 1_000_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e9:F2} B"),
        >= 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{n / 1e6:F2} M"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{n / 1e3:F2} K"),
    };
}
