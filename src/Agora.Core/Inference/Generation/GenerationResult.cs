namespace Agora.Inference.Generation;

/// <summary>Why generation ended.</summary>
public enum StopReason
{
    /// <summary>The requested number of tokens was generated.</summary>
    MaxTokens,
    /// <summary>The model produced an end-of-generation token (EOS, EOT, or one of the extra ids).</summary>
    EndOfGeneration,
    /// <summary>A stop string appeared in the text.</summary>
    StopString,
    /// <summary>The sequence filled the model's context.</summary>
    ContextFull,
    /// <summary>The caller's cancellation token fired.</summary>
    Cancelled,
}

/// <summary>The outcome of one generation, available once its text has been streamed to the end.</summary>
public sealed record GenerationResult
{
    public required StopReason StopReason { get; init; }
    /// <summary>The stop string met, when <see cref="StopReason"/> is <see cref="StopReason.StopString"/>.</summary>
    public string? StopString { get; init; }
    public required IReadOnlyList<int> PromptIds { get; init; }
    /// <summary>How many prompt tokens were run through the model (fewer when the session already held the start).</summary>
    public required int PromptTokensEvaluated { get; init; }
    /// <summary>Every token sampled, the end-of-generation token included when it was met.</summary>
    public required IReadOnlyList<int> TokenIds { get; init; }
    /// <summary>The text given out: the concatenation of the streamed pieces.</summary>
    public required string Text { get; init; }
    /// <summary>The sampler's seed, to repeat the run.</summary>
    public required ulong Seed { get; init; }
    public required TimeSpan PrefillTime { get; init; }
    /// <summary>Time from the end of prefill to the end of generation (sampling, decode steps, detokenization).</summary>
    public required TimeSpan DecodeTime { get; init; }

    public double PrefillTokensPerSecond => PromptTokensEvaluated / Math.Max(PrefillTime.TotalSeconds, 1e-9);
    public double DecodeTokensPerSecond => TokenIds.Count / Math.Max(DecodeTime.TotalSeconds, 1e-9);
}
