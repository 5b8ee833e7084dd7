using Agora.Formats.Gguf;
using Agora.Formats.HuggingFace;

namespace Agora.Formats.Checkpoint;

/// <summary>The transformer families the engine runs. Mistral is a Llama (GGUF files call it llama too).</summary>
public enum ModelArchitecture { Llama, Qwen2, Bloom }

public enum RopeScalingKind
{
    /// <summary>Positions divided by <see cref="RopeScaling.Factor"/>.</summary>
    Linear,
    /// <summary>Llama 3.1's frequency-dependent scaling, from its four parameters.</summary>
    Llama3,
    /// <summary>
    /// Per-frequency divisors stored as a tensor (<c>rope_freqs.weight</c>): how llama.cpp's converter writes
    /// Llama 3 scaling into GGUF. <see cref="RopeScaling.Llama3FrequencyFactors"/> computes the same factors.
    /// </summary>
    FrequencyFactors,
}

public sealed record RopeScaling(
    RopeScalingKind Kind,
    float Factor = 1,
    float LowFreqFactor = 0,
    float HighFreqFactor = 0,
    int OriginalContextLength = 0)
{
    /// <summary>The same scaling as the rotary kernel takes it (<see cref="RopeScalingKind.FrequencyFactors"/> has no such form: its factors are a tensor).</summary>
    public Tensors.Kernels.RopeScaling KernelScaling() => Kind switch
    {
        RopeScalingKind.Linear => new(Tensors.Kernels.RopeScalingKind.Linear, Factor),
        RopeScalingKind.Llama3 => new(Tensors.Kernels.RopeScalingKind.Llama3, Factor, LowFreqFactor, HighFreqFactor, OriginalContextLength),
        _ => throw new InvalidOperationException($"{Kind} scaling is stored as a tensor, not as parameters"),
    };

    /// <summary>
    /// The divisor of each rotary frequency (one per pair of dimensions) under Llama 3 scaling: 1 for short
    /// wavelengths, <see cref="Factor"/> for long ones, a smooth blend between — the ratio of the kernel's plain
    /// and scaled frequencies, so both stay one computation.
    /// </summary>
    public float[] Llama3FrequencyFactors(int ropeDimensions, float theta)
    {
        if (Kind != RopeScalingKind.Llama3) throw new InvalidOperationException($"{Kind} scaling has no Llama 3 factors");
        var plain = Tensors.Kernels.Rope.InverseFrequencies(ropeDimensions, theta);
        var scaled = Tensors.Kernels.Rope.InverseFrequencies(ropeDimensions, theta, KernelScaling());
        for (int i = 0; i < plain.Length; i++) plain[i] /= scaled[i];
        return plain;
    }
}

/// <summary>
/// The hyper-parameters the engine needs, whatever file they came from. Values stored as float32 in GGUF
/// (epsilons, rope base) are float here, so a Hugging Face config and its GGUF conversion give equal records.
/// </summary>
public sealed record ModelConfig
{
    public required ModelArchitecture Architecture { get; init; }
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int LayerCount { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>
    /// Trained context length. BLOOM (ALiBi) has none; like llama.cpp's converter we use seq_length when given,
    /// else the hidden size, so both formats agree.
    /// </summary>
    public required int ContextLength { get; init; }
    /// <summary>Epsilon of RMSNorm (Llama, Qwen2) or LayerNorm (BLOOM).</summary>
    public required float NormEpsilon { get; init; }
    /// <summary>Rotary base; 0 for BLOOM, which uses ALiBi instead of rotary embeddings.</summary>
    public required float RopeTheta { get; init; }
    public required int RopeDimensions { get; init; }
    public RopeScaling? RopeScaling { get; init; }
    /// <summary>True when the checkpoint has no separate output matrix and the token embedding serves as one.</summary>
    public required bool TieWordEmbeddings { get; init; }
    public required bool QkvBias { get; init; }
    public required bool OutputBias { get; init; }
    public required bool MlpBias { get; init; }
    /// <summary>A LayerNorm right after the token embedding (BLOOM).</summary>
    public required bool EmbeddingNorm { get; init; }
    public int? SlidingWindow { get; init; }

    public bool UsesRmsNorm => Architecture != ModelArchitecture.Bloom;
    public bool UsesAlibi => Architecture == ModelArchitecture.Bloom;
    /// <summary>SwiGLU feed-forward (gate, up, down) for the Llama family; plain GELU MLP for BLOOM.</summary>
    public bool UsesGatedMlp => Architecture != ModelArchitecture.Bloom;

    public static ModelConfig FromHf(HfConfig hf, string path = "config.json")
    {
        var architecture = hf.ModelType switch
        {
            "llama" or "mistral" => ModelArchitecture.Llama,
            "qwen2" => ModelArchitecture.Qwen2,
            "bloom" => ModelArchitecture.Bloom,
            _ => throw new AgoraFormatException(path, $"model_type '{hf.ModelType}' is not supported"),
        };
        if (architecture != ModelArchitecture.Bloom && hf.HiddenAct != "silu")
            throw new AgoraFormatException(path, $"hidden_act '{hf.HiddenAct}' is not supported for {hf.ModelType} (only silu)");
        if (hf.ResidualFromNormedInput)
            throw new AgoraFormatException(path, "apply_residual_connection_post_layernorm = true is not supported");
        RopeScaling? scaling = hf.RopeScaling switch
        {
            null => null,
            { Type: "linear" } r => new RopeScaling(RopeScalingKind.Linear, (float)r.Factor),
            { Type: "llama3" } r => new RopeScaling(RopeScalingKind.Llama3, (float)r.Factor, (float)r.LowFreqFactor,
                (float)r.HighFreqFactor, r.OriginalMaxPositionEmbeddings),
            var r => throw new AgoraFormatException(path, $"rope_scaling type '{r.Type}' is not supported (supported: linear, llama3)"),
        };
        if (architecture != ModelArchitecture.Bloom && hf.HeadDim % 2 != 0)
            throw new AgoraFormatException(path, $"head_dim {hf.HeadDim} is odd; rotary embeddings need pairs");
        return new ModelConfig
        {
            Architecture = architecture,
            HiddenSize = hf.HiddenSize,
            IntermediateSize = hf.IntermediateSize,
            LayerCount = hf.LayerCount,
            HeadCount = hf.HeadCount,
            KvHeadCount = hf.KvHeadCount,
            HeadDim = hf.HeadDim,
            VocabSize = hf.VocabSize,
            ContextLength = hf.MaxPositionEmbeddings ?? hf.HiddenSize,
            NormEpsilon = (float)hf.NormEpsilon,
            RopeTheta = architecture == ModelArchitecture.Bloom ? 0 : (float)hf.RopeTheta,
            RopeDimensions = architecture == ModelArchitecture.Bloom ? 0 : hf.HeadDim,
            RopeScaling = scaling,
            TieWordEmbeddings = hf.TieWordEmbeddings,
            QkvBias = hf.QkvBias,
            OutputBias = hf.OutputBias,
            MlpBias = hf.MlpBias,
            EmbeddingNorm = architecture == ModelArchitecture.Bloom,
            SlidingWindow = hf.SlidingWindow,
        };
    }

    public static ModelConfig FromGguf(GgufFile gguf)
    {
        var name = gguf.GetString("general.architecture");
        var architecture = name switch
        {
            "llama" => ModelArchitecture.Llama,
            "qwen2" => ModelArchitecture.Qwen2,
            "bloom" => ModelArchitecture.Bloom,
            _ => throw new AgoraFormatException(gguf.Path, $"general.architecture '{name}' is not supported (supported: llama, qwen2, bloom)"),
        };
        int Count(string key, int? fallback = null)
        {
            var full = $"{name}.{key}";
            if (!gguf.TryGetValue(full, out var value))
                return fallback ?? throw new AgoraFormatException(gguf.Path, $"metadata key '{full}' is missing");
            long n = gguf.GetInt64(full);
            return n is > 0 and <= int.MaxValue ? (int)n
                : throw new AgoraFormatException(gguf.Path, $"metadata key '{full}' is {n}, expected a positive integer below 2^31");
        }
        float Real(string key, float? fallback = null)
        {
            var full = $"{name}.{key}";
            if (!gguf.TryGetValue(full, out _))
                return fallback ?? throw new AgoraFormatException(gguf.Path, $"metadata key '{full}' is missing");
            double v = gguf.GetDouble(full);
            return double.IsFinite(v) && v > 0 ? (float)v
                : throw new AgoraFormatException(gguf.Path, $"metadata key '{full}' is {v}, expected a positive number");
        }

        bool bloom = architecture == ModelArchitecture.Bloom;
        int hidden = Count("embedding_length");
        int heads = Count("attention.head_count");
        int kvHeads = Count("attention.head_count_kv", heads);
        if (heads % kvHeads != 0)
            throw new AgoraFormatException(gguf.Path, $"{kvHeads} KV heads do not divide {heads} attention heads");
        int headDim = gguf.TryGetValue($"{name}.attention.key_length", out _) ? Count("attention.key_length")
            : hidden % heads == 0 ? hidden / heads
            : throw new AgoraFormatException(gguf.Path, $"embedding length {hidden} is not a multiple of the head count {heads}");
        int ropeDimensions = bloom ? 0 : Count("rope.dimension_count", headDim);
        if (!bloom && (ropeDimensions % 2 != 0 || ropeDimensions > headDim))
            throw new AgoraFormatException(gguf.Path,
                $"metadata key '{name}.rope.dimension_count' is {ropeDimensions}; rotary embeddings need an even count no larger than the head dimension {headDim}");

        int vocab = gguf.TryGetValue($"{name}.vocab_size", out _) ? Count("vocab_size")
            : gguf.TryGetValue("tokenizer.ggml.tokens", out var tokens) && tokens.Type == GgufValueType.Array && tokens.Count > 0 ? tokens.Count
            : gguf.FindTensor("token_embd.weight") is { Shape.Length: 2 } embedding && embedding.Shape[1] is > 0 and <= int.MaxValue ? (int)embedding.Shape[1]
            : throw new AgoraFormatException(gguf.Path, $"cannot tell the vocabulary size: no '{name}.vocab_size', token list or token_embd.weight");

        return new ModelConfig
        {
            Architecture = architecture,
            HiddenSize = hidden,
            IntermediateSize = Count("feed_forward_length"),
            LayerCount = Count("block_count"),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = headDim,
            VocabSize = vocab,
            ContextLength = Count("context_length"),
            NormEpsilon = Real(bloom ? "attention.layer_norm_epsilon" : "attention.layer_norm_rms_epsilon"),
            RopeTheta = bloom ? 0 : Real("rope.freq_base", 10000),
            RopeDimensions = ropeDimensions,
            RopeScaling = bloom ? null : GgufRopeScaling(gguf, name),
            TieWordEmbeddings = gguf.FindTensor("output.weight") == null,
            QkvBias = gguf.FindTensor(bloom ? "blk.0.attn_qkv.bias" : "blk.0.attn_q.bias") != null,
            OutputBias = gguf.FindTensor("blk.0.attn_output.bias") != null,
            MlpBias = gguf.FindTensor("blk.0.ffn_down.bias") != null,
            EmbeddingNorm = gguf.FindTensor("token_embd_norm.weight") != null,
            SlidingWindow = gguf.TryGetValue($"{name}.attention.sliding_window", out _) ? Count("attention.sliding_window") : null,
        };
    }

    static RopeScaling? GgufRopeScaling(GgufFile gguf, string arch)
    {
        if (gguf.FindTensor("rope_freqs.weight") != null) return new RopeScaling(RopeScalingKind.FrequencyFactors);
        string? type = gguf.TryGetValue($"{arch}.rope.scaling.type", out _) ? gguf.GetString($"{arch}.rope.scaling.type") : null;
        double factor = gguf.TryGetValue($"{arch}.rope.scaling.factor", out _) ? gguf.GetDouble($"{arch}.rope.scaling.factor")
            // Files from before the scaling keys carried a linear factor alone.
            : gguf.TryGetValue($"{arch}.rope.scale_linear", out _) ? gguf.GetDouble($"{arch}.rope.scale_linear") : 0;
        type ??= factor > 0 ? "linear" : "none";
        switch (type)
        {
            case "none":
                return null;
            case "linear":
                if (!(factor > 0 && double.IsFinite(factor)))
                    throw new AgoraFormatException(gguf.Path, $"linear rope scaling needs a positive '{arch}.rope.scaling.factor', found {factor}");
                return new RopeScaling(RopeScalingKind.Linear, (float)factor);
            default:
                throw new AgoraFormatException(gguf.Path, $"rope scaling type '{type}' is not supported (supported: linear)");
        }
    }
}
