using System.Runtime.InteropServices;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Bench;

/// <summary>
/// The shape of a LLaMA-family model: what a synthetic file needs to have the real one's sizes, and so its speed.
/// <paramref name="Llama3Scaling"/> adds Llama 3.1-style rope scaling, written as llama.cpp's converter writes it
/// (a <c>rope_freqs.weight</c> tensor of per-frequency divisors).
/// </summary>
public sealed record SyntheticShape(
    string Name, int Vocab, int Hidden, int Ffn, int Layers, int Heads, int KvHeads, bool Tied,
    float RopeTheta = 10000, RopeScaling? Llama3Scaling = null, string PreTokenizer = "llama-bpe")
{
    public int HeadDim => Hidden / Heads;

    public static readonly SyntheticShape SmolLM2_135M = new("smollm2-135m", 49152, 576, 1536, 30, 9, 3, Tied: true,
        RopeTheta: 100000, PreTokenizer: "smollm");

    public static readonly SyntheticShape Llama32_1B = new("llama-3.2-1b", 128256, 2048, 8192, 16, 32, 8, Tied: true,
        RopeTheta: 500000, Llama3Scaling: new RopeScaling(RopeScalingKind.Llama3, 32, 1, 4, 8192));

    /// <summary>
    /// The memory benchmark's shape: 1024 wide, untied, with as many layers as make about
    /// <paramref name="gigabytes"/> of float32 weights.
    /// </summary>
    public static SyntheticShape Memory(double gigabytes)
    {
        const int vocab = 32000, hidden = 1024, ffn = 2816;
        long layerBytes = 4L * (4L * hidden * hidden + 3L * hidden * ffn);
        long embeddingBytes = 4L * vocab * hidden;
        int layers = Math.Max(1, (int)((gigabytes * 1e9 - 2 * embeddingBytes) / layerBytes));
        return new($"memory-{gigabytes:0.#}gb", vocab, hidden, ffn, layers, 16, 16, Tied: false);
    }

    public static SyntheticShape Named(string name) => name switch
    {
        "smollm2-135m" => SmolLM2_135M,
        "llama-3.2-1b" => Llama32_1B,
        "memory-1gb" => Memory(1),
        _ => throw new ArgumentException($"unknown shape '{name}' (known: smollm2-135m, llama-3.2-1b, memory-1gb)"),
    };
}

/// <summary>
/// Writes a LLaMA-architecture GGUF with a given shape: random weights (uniform with standard deviation 0.02, so
/// activations stay finite through the layers), unit norms, and a byte-level BPE vocabulary of the shape's size
/// (256 byte tokens, generated merges, two control tokens) so the tokenizer loads. Tensor data is produced while
/// the file is written, so memory stays bounded whatever the model's size.
/// </summary>
public static class SyntheticModel
{
    const float WeightStd = 0.02f;
    const int Specials = 2;

    public static void Write(string path, SyntheticShape shape, GgmlType type, ulong seed = 1234)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16))
            throw new ArgumentException($"synthetic weights are written as F32 or F16, not {type} (quantize the file afterwards)");
        if (shape.Vocab <= 256 + Specials)
            throw new ArgumentException($"a byte-level vocabulary needs more than {256 + Specials} tokens, not {shape.Vocab}");

        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.String("llama"));
        writer.Add("general.name", GgufValue.String($"agora-synthetic-{shape.Name}"));
        writer.Add("general.file_type", GgufValue.UInt32(type == GgmlType.F16 ? 1u : 0u));
        writer.Add("llama.vocab_size", GgufValue.UInt32((uint)shape.Vocab));
        writer.Add("llama.context_length", GgufValue.UInt32(8192));
        writer.Add("llama.embedding_length", GgufValue.UInt32((uint)shape.Hidden));
        writer.Add("llama.block_count", GgufValue.UInt32((uint)shape.Layers));
        writer.Add("llama.feed_forward_length", GgufValue.UInt32((uint)shape.Ffn));
        writer.Add("llama.attention.head_count", GgufValue.UInt32((uint)shape.Heads));
        writer.Add("llama.attention.head_count_kv", GgufValue.UInt32((uint)shape.KvHeads));
        writer.Add("llama.attention.layer_norm_rms_epsilon", GgufValue.Float32(1e-5f));
        writer.Add("llama.rope.freq_base", GgufValue.Float32(shape.RopeTheta));
        writer.Add("llama.rope.dimension_count", GgufValue.UInt32((uint)shape.HeadDim));
        AddVocabulary(writer, shape);

        var random = new XorShift(seed);
        void Matrix(string name, int rows, int cols) =>
            writer.AddTensor(name, type, [cols, rows], stream => WriteRandom(stream, (long)rows * cols, type, ref random));
        void Vector(string name, float[] values) =>
            writer.AddTensor(name, GgmlType.F32, [values.Length], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        var ones = Enumerable.Repeat(1f, shape.Hidden).ToArray();
        int kvWidth = shape.KvHeads * shape.HeadDim;

        // llama.cpp's order: embeddings, rope factors, the blocks, final norm, output.
        Matrix("token_embd.weight", shape.Vocab, shape.Hidden);
        if (shape.Llama3Scaling is { } scaling)
            Vector("rope_freqs.weight", scaling.Llama3FrequencyFactors(shape.HeadDim, shape.RopeTheta));
        for (int l = 0; l < shape.Layers; l++)
        {
            Vector($"blk.{l}.attn_norm.weight", ones);
            Matrix($"blk.{l}.attn_q.weight", shape.Hidden, shape.Hidden);
            Matrix($"blk.{l}.attn_k.weight", kvWidth, shape.Hidden);
            Matrix($"blk.{l}.attn_v.weight", kvWidth, shape.Hidden);
            Matrix($"blk.{l}.attn_output.weight", shape.Hidden, shape.Hidden);
            Vector($"blk.{l}.ffn_norm.weight", ones);
            Matrix($"blk.{l}.ffn_gate.weight", shape.Ffn, shape.Hidden);
            Matrix($"blk.{l}.ffn_up.weight", shape.Ffn, shape.Hidden);
            Matrix($"blk.{l}.ffn_down.weight", shape.Hidden, shape.Ffn);
        }
        Vector("output_norm.weight", ones);
        if (!shape.Tied) Matrix("output.weight", shape.Vocab, shape.Hidden);
        writer.Write(path);
    }

    /// <summary>
    /// A GPT-2-style byte-level vocabulary: the 256 byte symbols, then merges of two bytes, then of a two-byte
    /// token and a byte, until the size is reached; the last two ids are BOS and EOS.
    /// </summary>
    static void AddVocabulary(GgufWriter writer, SyntheticShape shape)
    {
        var bytes = ByteSymbols();
        int merges = shape.Vocab - 256 - Specials;
        var tokens = new List<string>(shape.Vocab);
        var mergeLines = new List<string>(merges);
        tokens.AddRange(bytes);
        for (int a = 0; a < 256 && mergeLines.Count < merges; a++)
            for (int b = 0; b < 256 && mergeLines.Count < merges; b++)
            {
                mergeLines.Add(bytes[a] + " " + bytes[b]);
                tokens.Add(bytes[a] + bytes[b]);
            }
        for (int pair = 0; pair < 256 * 256 && mergeLines.Count < merges; pair++)
            for (int c = 0; c < 256 && mergeLines.Count < merges; c++)
            {
                string left = bytes[pair / 256] + bytes[pair % 256];
                mergeLines.Add(left + " " + bytes[c]);
                tokens.Add(left + bytes[c]);
            }
        tokens.Add("<|begin_of_text|>");
        tokens.Add("<|end_of_text|>");
        var types = new int[tokens.Count];
        Array.Fill(types, 1);
        types[^2] = types[^1] = 3;

        writer.Add("tokenizer.ggml.model", GgufValue.String("gpt2"));
        writer.Add("tokenizer.ggml.pre", GgufValue.String(shape.PreTokenizer));
        writer.Add("tokenizer.ggml.tokens", GgufValue.StringArray(tokens));
        writer.Add("tokenizer.ggml.token_type", GgufValue.Int32Array(types));
        writer.Add("tokenizer.ggml.merges", GgufValue.StringArray(mergeLines));
        writer.Add("tokenizer.ggml.bos_token_id", GgufValue.UInt32((uint)(tokens.Count - 2)));
        writer.Add("tokenizer.ggml.eos_token_id", GgufValue.UInt32((uint)(tokens.Count - 1)));
    }

    /// <summary>GPT-2's printable stand-in for each byte: printable Latin-1 bytes are themselves, the rest 256 + n.</summary>
    static string[] ByteSymbols()
    {
        var symbols = new string[256];
        int next = 256;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            symbols[b] = ((char)(printable ? b : next++)).ToString();
        }
        return symbols;
    }

    static void WriteRandom(Stream stream, long count, GgmlType type, ref XorShift random)
    {
        // Uniform on [-a, a] has standard deviation a/√3.
        float scale = WeightStd * MathF.Sqrt(3) * 2;
        var floats = new float[1 << 16];
        var halves = new Half[floats.Length];
        for (long done = 0; done < count; done += floats.Length)
        {
            int n = (int)Math.Min(floats.Length, count - done);
            for (int i = 0; i < n; i++) floats[i] = (random.NextUnit() - 0.5f) * scale;
            if (type == GgmlType.F32)
            {
                stream.Write(MemoryMarshal.AsBytes(floats.AsSpan(0, n)));
            }
            else
            {
                Tensors.Kernels.ElementConversion.F32ToF16(floats.AsSpan(0, n), halves.AsSpan(0, n));
                stream.Write(MemoryMarshal.AsBytes(halves.AsSpan(0, n)));
            }
        }
    }

    /// <summary>xorshift64*: a billion weights in seconds, the same file for the same seed.</summary>
    struct XorShift(ulong seed)
    {
        ulong _state = seed == 0 ? 0x9E3779B97F4A7C15UL : seed;

        public float NextUnit()
        {
            _state ^= _state >> 12;
            _state ^= _state << 25;
            _state ^= _state >> 27;
            return ((_state * 0x2545F4914F6CDD1DUL) >> 40) * (1f / (1 << 24));
        }
    }
}
