using Agora.Inference.Sampling;

namespace Agora.Inference.Generation;

/// <summary>What one generation asks for: how to sample, when to stop, how to read a text prompt.</summary>
public sealed record GenerationOptions
{
    /// <summary>The most tokens to generate (the end-of-generation token, when met, counts as one).</summary>
    public int MaxTokens { get; init; } = 256;
    public SamplerOptions Sampling { get; init; } = new();
    /// <summary>Generation stops where one of these appears in the text; it and anything after it is not given out.</summary>
    public IReadOnlyList<string> StopStrings { get; init; } = [];
    /// <summary>
    /// Ids that end generation besides those the tokenizer names (<c>ITokenizer.IsEndOfGeneration</c>), e.g.
    /// <c>eos_token_id</c> from generation_config.json.
    /// </summary>
    public IReadOnlyList<int> EndOfGenerationIds { get; init; } = [];
    /// <summary>
    /// For a text prompt: put BOS first when the tokenizer asks for it. False for text that already carries its
    /// special tokens, such as a rendered chat template (transformers encodes those without special tokens too).
    /// </summary>
    public bool AddBos { get; init; } = true;
    /// <summary>Leave special tokens (other than the one that ends generation) out of the text.</summary>
    public bool SkipSpecialTokens { get; init; }

    /// <summary>Throws <see cref="AgoraException"/> naming the first setting out of range.</summary>
    public void Validate()
    {
        if (MaxTokens <= 0) throw new AgoraException($"generation: max tokens is {MaxTokens}, expected a positive number");
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
        foreach (var stop in StopStrings ?? throw new ArgumentNullException(nameof(StopStrings)))
            if (string.IsNullOrEmpty(stop)) throw new AgoraException("generation: a stop string is empty");
        ArgumentNullException.ThrowIfNull(EndOfGenerationIds);
    }
}
