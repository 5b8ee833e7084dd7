using System.Diagnostics;
using System.Runtime.InteropServices;
using Agora.Formats.Gguf;
using Agora.Inference;
using Agora.Inference.Generation;
using Agora.Inference.Sampling;
using Agora.Tensors;

namespace Agora.Bench;

/// <summary>
/// `memory [GB]`: writes a LLaMA-shaped GGUF of about GB gigabytes (random float32 weights, the kjv-llama
/// vocabulary) with Agora's own writer, opens it, generates a few tokens, and reports peak resident memory.
/// Weights are memory-mapped, so resident memory should be the file's pages the pass touched plus small change,
/// never a second copy.
/// </summary>
static class MemoryBench
{
    const int Hidden = 1024, Heads = 16, Ffn = 2816;

    public static int Run(string[] args)
    {
        double gigabytes = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1.0;
        var path = Path.Combine(Path.GetTempPath(), $"agora-memory-{gigabytes:F1}gb.gguf");
        if (!File.Exists(path)) Write(path, gigabytes);
        long fileBytes = new FileInfo(path).Length;
        Console.WriteLine($"{path}: {fileBytes / 1e9:F2} GB");

        GC.Collect();
        long before = Status("VmRSS");
        ResetPeak();
        var sw = Stopwatch.StartNew();
        using (var lm = LanguageModel.Load(path))
        {
            var generator = lm.CreateGenerator(contextLength: 64);
            var result = generator.GenerateTextAsync("In the beginning", new GenerationOptions { MaxTokens = 4, Sampling = SamplerOptions.Greedy })
                .GetAwaiter().GetResult();
            Console.WriteLine($"generated {result.TokenIds.Count} tokens in {sw.Elapsed.TotalSeconds:F1} s");
            long peak = Status("VmHWM");
            Console.WriteLine($"resident before load {before / 1e6:F0} MB; peak while generating {peak / 1e6:F0} MB " +
                $"({peak / (double)fileBytes:P0} of the file; limit 1.3 GB per GB of weights)");
        }
        return 0;
    }

    static void Write(string path, double gigabytes)
    {
        using var vocabulary = GgufFile.Open(BenchFixtures.Path("models", "kjv-llama", "model-f16.gguf"));
        int vocab = vocabulary.GetStringArray("tokenizer.ggml.tokens").Length;
        long layerBytes = 4L * (4L * Hidden * Hidden + 3L * Hidden * Ffn);
        long embeddingBytes = 4L * vocab * Hidden;
        int layers = Math.Max(1, (int)((gigabytes * 1e9 - 2 * embeddingBytes) / layerBytes));

        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.String("llama"));
        writer.Add("general.name", GgufValue.String("agora-memory-bench"));
        writer.Add("llama.context_length", GgufValue.UInt32(512));
        writer.Add("llama.embedding_length", GgufValue.UInt32(Hidden));
        writer.Add("llama.block_count", GgufValue.UInt32((uint)layers));
        writer.Add("llama.feed_forward_length", GgufValue.UInt32(Ffn));
        writer.Add("llama.attention.head_count", GgufValue.UInt32(Heads));
        writer.Add("llama.attention.head_count_kv", GgufValue.UInt32(Heads));
        writer.Add("llama.attention.layer_norm_rms_epsilon", GgufValue.Float32(1e-5f));
        writer.Add("llama.rope.dimension_count", GgufValue.UInt32(Hidden / Heads));
        foreach (var (key, value) in vocabulary.Metadata)
            if (key.StartsWith("tokenizer.", StringComparison.Ordinal)) writer.Add(key, value);

        var random = new Random(1234);
        void Matrix(string name, int rows, int cols) =>
            writer.AddTensor(name, GgmlType.F32, [cols, rows], stream => RandomFloats(stream, (long)rows * cols, random));
        void Ones(string name) => writer.AddTensor(name, GgmlType.F32, [Hidden], MemoryMarshal.AsBytes(Enumerable.Repeat(1f, Hidden).ToArray().AsSpan()).ToArray());

        Matrix("token_embd.weight", vocab, Hidden);
        for (int l = 0; l < layers; l++)
        {
            Ones($"blk.{l}.attn_norm.weight");
            foreach (var m in new[] { "attn_q", "attn_k", "attn_v", "attn_output" }) Matrix($"blk.{l}.{m}.weight", Hidden, Hidden);
            Ones($"blk.{l}.ffn_norm.weight");
            Matrix($"blk.{l}.ffn_gate.weight", Ffn, Hidden);
            Matrix($"blk.{l}.ffn_up.weight", Ffn, Hidden);
            Matrix($"blk.{l}.ffn_down.weight", Hidden, Ffn);
        }
        Ones("output_norm.weight");
        Matrix("output.weight", vocab, Hidden);
        writer.Write(path);
    }

    static void RandomFloats(Stream stream, long count, Random random)
    {
        var buffer = new float[1 << 16];
        for (long done = 0; done < count; done += buffer.Length)
        {
            int n = (int)Math.Min(buffer.Length, count - done);
            for (int i = 0; i < n; i++) buffer[i] = (float)(random.NextDouble() - 0.5) * 0.04f;
            stream.Write(MemoryMarshal.AsBytes(buffer.AsSpan(0, n)));
        }
    }

    /// <summary>A size line of /proc/self/status, in bytes.</summary>
    static long Status(string field)
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
                return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0]) * 1024;
        throw new InvalidOperationException($"/proc/self/status has no {field}");
    }

    /// <summary>Linux resets the peak resident size (VmHWM) when 5 is written to clear_refs.</summary>
    static void ResetPeak() => File.WriteAllText("/proc/self/clear_refs", "5");
}
