namespace Agora.Formats.HuggingFace;

/// <summary>
/// <c>generation_config.json</c>: the model author's default decoding settings. Absent fields take
/// transformers' GenerationConfig defaults.
/// </summary>
public sealed record GenerationConfig
{
    public IReadOnlyList<int> BosTokenIds { get; init; } = [];
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];
    public IReadOnlyList<int> PadTokenIds { get; init; } = [];
    public bool DoSample { get; init; }
    public double Temperature { get; init; } = 1.0;
    public int TopK { get; init; } = 50;
    public double TopP { get; init; } = 1.0;
    public double? MinP { get; init; }
    public double RepetitionPenalty { get; init; } = 1.0;
    public int? MaxNewTokens { get; init; }
    /// <summary>max_length: prompt plus new tokens (transformers' default 20 applies only when neither is set).</summary>
    public int? MaxLength { get; init; }

    public static GenerationConfig Load(string path)
    {
        using var document = FormatJson.ReadFile(path, "generation config");
        return Read(JsonFields.Root(path, document));
    }

    public static GenerationConfig Parse(string json, string path = "generation_config.json")
    {
        using var document = FormatJson.Parse(path, System.Text.Encoding.UTF8.GetBytes(json), 0, "generation config");
        return Read(JsonFields.Root(path, document));
    }

    static GenerationConfig Read(JsonFields f)
    {
        double temperature = f.Double("temperature") ?? 1.0;
        if (temperature < 0) throw f.Error("temperature", $"is {temperature}, expected zero or more");
        double topP = f.Double("top_p") ?? 1.0;
        if (topP is < 0 or > 1) throw f.Error("top_p", $"is {topP}, expected a number from 0 to 1");
        double? minP = f.Double("min_p");
        if (minP is < 0 or > 1) throw f.Error("min_p", $"is {minP}, expected a number from 0 to 1");
        double penalty = f.Double("repetition_penalty") ?? 1.0;
        if (penalty <= 0) throw f.Error("repetition_penalty", $"is {penalty}, expected a positive number");
        long topK = f.Int64("top_k") ?? 50;
        if (topK is < 0 or > int.MaxValue) throw f.Error("top_k", $"is {topK}, expected zero or a positive integer");
        return new GenerationConfig
        {
            BosTokenIds = f.Ids("bos_token_id"),
            EosTokenIds = f.Ids("eos_token_id"),
            PadTokenIds = f.Ids("pad_token_id"),
            DoSample = f.Bool("do_sample") ?? false,
            Temperature = temperature,
            TopK = (int)topK,
            TopP = topP,
            MinP = minP,
            RepetitionPenalty = penalty,
            MaxNewTokens = f.Count("max_new_tokens"),
            MaxLength = f.Count("max_length"),
        };
    }
}
