namespace Agora.Formats.HuggingFace;

/// <summary>
/// A Hugging Face <c>config.json</c> for the model families Agora runs (llama, mistral, qwen2, bloom), read
/// with each family's transformers defaults for the fields a checkpoint leaves out, and BLOOM's own key names.
/// </summary>
public sealed record HfConfig
{
    public static readonly IReadOnlyList<string> SupportedModelTypes = ["llama", "mistral", "qwen2", "bloom"];

    public required string ModelType { get; init; }
    public IReadOnlyList<string> Architectures { get; init; } = [];
    public required int HiddenSize { get; init; }
    public required int IntermediateSize { get; init; }
    public required int LayerCount { get; init; }
    public required int HeadCount { get; init; }
    public required int KvHeadCount { get; init; }
    public required int HeadDim { get; init; }
    public required int VocabSize { get; init; }
    /// <summary>max_position_embeddings; null for BLOOM, whose ALiBi positions have no trained limit.</summary>
    public int? MaxPositionEmbeddings { get; init; }
    /// <summary>rms_norm_eps (llama family) or layer_norm_epsilon (BLOOM).</summary>
    public required double NormEpsilon { get; init; }
    public double RopeTheta { get; init; } = 10000;
    public HfRopeScaling? RopeScaling { get; init; }
    public required bool TieWordEmbeddings { get; init; }
    /// <summary>Biases on the q/k/v projections.</summary>
    public required bool QkvBias { get; init; }
    /// <summary>Bias on the attention output projection.</summary>
    public required bool OutputBias { get; init; }
    public required bool MlpBias { get; init; }
    /// <summary>Attention window in tokens where the model uses one (Mistral; Qwen2 with use_sliding_window).</summary>
    public int? SlidingWindow { get; init; }
    public string? HiddenAct { get; init; }
    /// <summary>BLOOM's apply_residual_connection_post_layernorm.</summary>
    public bool ResidualFromNormedInput { get; init; }
    public IReadOnlyList<int> BosTokenIds { get; init; } = [];
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public int? PadTokenId { get; init; }
    /// <summary>torch_dtype, or dtype as transformers 5 writes it ("float32", "bfloat16"…).</summary>
    public string? TorchDtype { get; init; }

    public static HfConfig Load(string path)
    {
        using var document = FormatJson.ReadFile(path, "config");
        return Read(JsonFields.Root(path, document));
    }

    /// <summary>Parses config JSON held in memory; <paramref name="path"/> names it in errors.</summary>
    public static HfConfig Parse(string json, string path = "config.json")
    {
        using var document = FormatJson.Parse(path, System.Text.Encoding.UTF8.GetBytes(json), 0, "config");
        return Read(JsonFields.Root(path, document));
    }

    static HfConfig Read(JsonFields f)
    {
        var modelType = f.String("model_type") ?? throw f.Error("model_type", "is missing");
        var architectures = f.Strings("architectures");
        var config = modelType switch
        {
            "llama" or "mistral" or "qwen2" => ReadLlamaFamily(f, modelType),
            "bloom" => ReadBloom(f),
            _ => throw new AgoraFormatException(f.Path,
                $"model_type '{modelType}' is not supported (supported: {string.Join(", ", SupportedModelTypes)})"),
        };
        return config with
        {
            Architectures = architectures,
            BosTokenIds = f.Ids("bos_token_id"),
            EosTokenIds = f.Ids("eos_token_id"),
            PadTokenId = f.Ids("pad_token_id") is [var pad, ..] ? pad : null,
            TorchDtype = f.String("torch_dtype") ?? f.String("dtype"),
        };
    }

    // Defaults are those of transformers' LlamaConfig, MistralConfig and Qwen2Config.
    static HfConfig ReadLlamaFamily(JsonFields f, string type)
    {
        int hidden = f.RequiredCount("hidden_size", 4096);
        int heads = f.RequiredCount("num_attention_heads", 32);
        int kvHeads = f.Count("num_key_value_heads") ?? (type == "mistral" ? 8 : heads);
        int headDim = f.Count("head_dim") ?? DivideEvenly(f, "hidden_size", hidden, heads);
        if (heads % kvHeads != 0)
            throw f.Error("num_key_value_heads", $"is {kvHeads}, which does not divide num_attention_heads ({heads})");

        var ropeParameters = f.Object("rope_parameters");
        var scaling = ReadRopeScaling(f.Object("rope_scaling") ?? ropeParameters);
        double theta = f.Double("rope_theta") ?? ropeParameters?.Double("rope_theta") ?? 10000;
        if (theta <= 0) throw f.Error("rope_theta", $"is {theta}, expected a positive number");

        int? window = type switch
        {
            // MistralConfig defaults to a 4096-token window; an explicit null turns it off.
            "mistral" => f.IsExplicitNull("sliding_window") ? null : f.Count("sliding_window") ?? 4096,
            "qwen2" => f.Bool("use_sliding_window") == true ? f.Count("sliding_window") ?? 4096 : null,
            _ => null,
        };

        bool attentionBias = f.Bool("attention_bias") ?? false;
        return new HfConfig
        {
            ModelType = type,
            HiddenSize = hidden,
            IntermediateSize = f.RequiredCount("intermediate_size", type switch { "mistral" => 14336, "qwen2" => 22016, _ => 11008 }),
            LayerCount = f.RequiredCount("num_hidden_layers", 32),
            HeadCount = heads,
            KvHeadCount = kvHeads,
            HeadDim = headDim,
            VocabSize = f.RequiredCount("vocab_size", type == "qwen2" ? 151936 : 32000),
            MaxPositionEmbeddings = f.Count("max_position_embeddings") ?? type switch { "mistral" => 4096 * 32, "qwen2" => 32768, _ => 2048 },
            NormEpsilon = Positive(f, "rms_norm_eps", f.Double("rms_norm_eps") ?? 1e-6),
            RopeTheta = theta,
            RopeScaling = scaling,
            TieWordEmbeddings = f.Bool("tie_word_embeddings") ?? false,
            // Qwen2 always has q/k/v biases and no output bias; Llama's attention_bias covers all four.
            QkvBias = type == "qwen2" || (type == "llama" && attentionBias),
            OutputBias = type == "llama" && attentionBias,
            MlpBias = type == "llama" && (f.Bool("mlp_bias") ?? false),
            SlidingWindow = window,
            HiddenAct = f.String("hidden_act") ?? "silu",
        };
    }

    static HfConfig ReadBloom(JsonFields f)
    {
        // BloomConfig accepts n_embed for hidden_size and maps num_hidden_layers/num_attention_heads onto n_layer/n_head.
        var hiddenKey = f.FirstPresent("hidden_size", "n_embed") ?? "hidden_size";
        int hidden = f.RequiredCount(hiddenKey, 64);
        var headsKey = f.FirstPresent("n_head", "num_attention_heads") ?? "n_head";
        int heads = f.RequiredCount(headsKey, 8);
        return new HfConfig
        {
            ModelType = "bloom",
            HiddenSize = hidden,
            IntermediateSize = checked(4 * hidden),
            LayerCount = f.RequiredCount(f.FirstPresent("n_layer", "num_hidden_layers") ?? "n_layer", 2),
            HeadCount = heads,
            KvHeadCount = heads,
            HeadDim = DivideEvenly(f, hiddenKey, hidden, heads),
            VocabSize = f.RequiredCount("vocab_size", 250880),
            MaxPositionEmbeddings = f.Count("seq_length"),
            NormEpsilon = Positive(f, "layer_norm_epsilon", f.Double("layer_norm_epsilon") ?? 1e-5),
            RopeTheta = 0,
            TieWordEmbeddings = f.Bool("tie_word_embeddings") ?? true,
            QkvBias = true,
            OutputBias = true,
            MlpBias = true,
            HiddenAct = "gelu",
            ResidualFromNormedInput = f.Bool("apply_residual_connection_post_layernorm") ?? false,
        };
    }

    static HfRopeScaling? ReadRopeScaling(JsonFields? r)
    {
        if (r == null) return null;
        var type = r.String("rope_type") ?? r.String("type") ?? throw r.Error("rope_type", "is missing");
        switch (type)
        {
            case "default":
                return null;
            case "linear":
                return new HfRopeScaling(type, Positive(r, "factor", r.Double("factor") ?? throw r.Error("factor", "is missing")));
            case "llama3":
                double factor = Positive(r, "factor", r.Double("factor") ?? throw r.Error("factor", "is missing"));
                double low = Positive(r, "low_freq_factor", r.Double("low_freq_factor") ?? throw r.Error("low_freq_factor", "is missing"));
                double high = Positive(r, "high_freq_factor", r.Double("high_freq_factor") ?? throw r.Error("high_freq_factor", "is missing"));
                if (high <= low) throw r.Error("high_freq_factor", $"is {high}, expected more than low_freq_factor ({low})");
                int original = r.Count("original_max_position_embeddings") ?? throw r.Error("original_max_position_embeddings", "is missing");
                return new HfRopeScaling(type, factor, low, high, original);
            default:
                // Kept so the refusal can name it where it matters (building the engine's config).
                return new HfRopeScaling(type, r.Double("factor") ?? 0);
        }
    }

    static int DivideEvenly(JsonFields f, string key, int hidden, int heads) =>
        hidden % heads == 0 ? hidden / heads : throw f.Error(key, $"is {hidden}, not a multiple of the head count {heads}");

    static double Positive(JsonFields f, string key, double value) =>
        value > 0 ? value : throw f.Error(key, $"is {value}, expected a positive number");
}
