using Agora.Formats.HuggingFace;

namespace Agora.Inference.Sampling;

/// <summary>
/// How the next token is chosen from the logits. The defaults change nothing: plain sampling from the softmax.
/// Temperature 0 is greedy decoding (the argmax after penalties; ties go to the lowest id).
/// </summary>
public sealed record SamplerOptions
{
    /// <summary>Greedy decoding: the most likely token every time.</summary>
    public static readonly SamplerOptions Greedy = new() { Temperature = 0 };

    /// <summary>Logits are divided by it; 0 means greedy.</summary>
    public double Temperature { get; init; } = 1.0;
    /// <summary>Keep the K most likely tokens (and any tied with the K-th, as transformers does); 0 keeps all.</summary>
    public int TopK { get; init; }
    /// <summary>Keep the most likely tokens until their probability reaches P (nucleus sampling); 1 keeps all.</summary>
    public double TopP { get; init; } = 1.0;
    /// <summary>Drop tokens less likely than MinP times the most likely one; 0 keeps all.</summary>
    public double MinP { get; init; }
    /// <summary>
    /// CTRL / transformers repetition penalty over the tokens in the penalty window: a positive logit is divided
    /// by it, a negative one multiplied; 1 does nothing.
    /// </summary>
    public double RepetitionPenalty { get; init; } = 1.0;
    /// <summary>OpenAI / llama.cpp presence penalty: subtracted once from the logit of every token in the window.</summary>
    public double PresencePenalty { get; init; }
    /// <summary>OpenAI / llama.cpp frequency penalty: subtracted from a token's logit once per occurrence in the window.</summary>
    public double FrequencyPenalty { get; init; }
    /// <summary>
    /// How many of the most recent tokens (prompt included) the penalties look at; null means all of them, as
    /// transformers does (llama.cpp's default is the last 64); 0 turns the penalties off.
    /// </summary>
    public int? PenaltyWindow { get; init; }
    /// <summary>Seed of the random draws; null picks one (reported back, so a run can be repeated).</summary>
    public ulong? Seed { get; init; }

    public bool IsGreedy => Temperature == 0;

    /// <summary>Throws <see cref="AgoraException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (!double.IsFinite(Temperature) || Temperature < 0)
            throw Bad("temperature", Temperature, "zero (greedy) or a positive number");
        if (TopK < 0) throw Bad("top-k", TopK, "zero (off) or a positive integer");
        if (!(TopP > 0 && TopP <= 1)) throw Bad("top-p", TopP, "a number above 0 and at most 1");
        if (!(MinP >= 0 && MinP <= 1)) throw Bad("min-p", MinP, "a number from 0 to 1");
        // Penalties act on float32 logits: beyond these bounds they push logits out of float range (NaN, not a choice).
        if (!(RepetitionPenalty >= 1e-6 && RepetitionPenalty <= 1e6))
            throw Bad("repetition penalty", RepetitionPenalty, "a positive number between 1e-6 and 1e6 (1 is off)");
        if (!(Math.Abs(PresencePenalty) <= 1e6)) throw Bad("presence penalty", PresencePenalty, "a number between -1e6 and 1e6");
        if (!(Math.Abs(FrequencyPenalty) <= 1e6)) throw Bad("frequency penalty", FrequencyPenalty, "a number between -1e6 and 1e6");
        if (PenaltyWindow < 0) throw Bad("penalty window", PenaltyWindow.Value, "zero or a positive number of tokens");
    }

    static AgoraException Bad(string name, double value, string expected) =>
        new($"sampling: {name} is {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}, expected {expected}");

    /// <summary>
    /// The model author's defaults from <c>generation_config.json</c>, as transformers' <c>generate()</c> reads
    /// them: <c>do_sample</c> false means greedy, otherwise temperature, top-k, top-p, min-p and repetition penalty.
    /// </summary>
    public static SamplerOptions FromGenerationConfig(GenerationConfig config) => config.DoSample
        ? new SamplerOptions
        {
            Temperature = config.Temperature,
            // top_p 0 keeps only the most likely token in transformers (it always keeps one): top-k 1 here.
            TopK = config.TopP == 0 ? 1 : config.TopK,
            TopP = config.TopP == 0 ? 1 : config.TopP,
            MinP = config.MinP ?? 0,
            RepetitionPenalty = config.RepetitionPenalty,
        }
        : Greedy with { RepetitionPenalty = config.RepetitionPenalty };
}
