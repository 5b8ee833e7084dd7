namespace Agora.Training;

/// <summary>
/// One batch of equally long sequences: <see cref="Tokens"/> and <see cref="Labels"/> are [Sequences, Length]
/// row-major. Labels are aligned with the tokens as Hugging Face aligns them: position t's logits are scored
/// against label t + 1, and a label of <see cref="Ignored"/> is not scored.
/// </summary>
public sealed class TrainingBatch
{
    public const int Ignored = -100;

    public int[] Tokens { get; }
    public int[] Labels { get; }
    public int Sequences { get; }
    public int Length { get; }
    /// <summary>How many labels the loss scores (every label after the first of each sequence that is not ignored).</summary>
    public int ScoredCount { get; }

    public TrainingBatch(int[] tokens, int[] labels, int sequences, int length)
    {
        if (sequences <= 0 || length <= 0) throw new ArgumentException($"a batch needs sequences ({sequences}) and length ({length}) above zero");
        if (tokens.Length != (long)sequences * length || labels.Length != tokens.Length)
            throw new ArgumentException($"{tokens.Length} tokens and {labels.Length} labels are not {sequences} sequences of {length}");
        Tokens = tokens;
        Labels = labels;
        Sequences = sequences;
        Length = length;
        for (int s = 0; s < sequences; s++)
            for (int t = 1; t < length; t++)
                if (labels[s * length + t] != Ignored) ScoredCount++;
    }

    /// <summary>A batch from equally long rows of tokens and labels.</summary>
    public static TrainingBatch FromRows(IReadOnlyList<int[]> tokens, IReadOnlyList<int[]> labels)
    {
        if (tokens.Count == 0 || tokens.Count != labels.Count) throw new ArgumentException($"{tokens.Count} token rows and {labels.Count} label rows");
        int length = tokens[0].Length;
        if (tokens.Any(r => r.Length != length) || labels.Any(r => r.Length != length))
            throw new ArgumentException("every row of a batch must have the same length");
        return new TrainingBatch([.. tokens.SelectMany(r => r)], [.. labels.SelectMany(r => r)], tokens.Count, length);
    }

    internal void Validate(int vocabSize)
    {
        foreach (var t in Tokens)
            if ((uint)t >= (uint)vocabSize) throw new AgoraException($"token id {t} is outside the vocabulary (0..{vocabSize - 1})");
        foreach (var l in Labels)
            if (l != Ignored && (uint)l >= (uint)vocabSize) throw new AgoraException($"label {l} is outside the vocabulary (0..{vocabSize - 1}) and is not {Ignored}");
    }
}
