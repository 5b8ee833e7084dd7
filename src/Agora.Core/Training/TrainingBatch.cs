namespace Agora.Training;

/// <summary>
/// One batch of equally long sequences: <see cref="Tokens"/> and <see cref="Labels"/> are [Sequences, Length]
/// row-major. Labels are aligned with the tokens as Hugging Face aligns them: position t's logits are scored
/// against label t + 1, and a label of <see cref="Ignored"/> is not scored. A packed batch also carries
/// <see cref="Positions"/>: several examples share a row, each starting again at position 0, and a token attends
/// only to the tokens of its own example (Hugging Face's position_ids for padding-free packing).
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
    /// <summary>
    /// [Sequences, Length] position of each token within its example, or null for one example per row (position t).
    /// Each row starts at 0 and every position is 0 (a new example) or the previous one + 1.
    /// </summary>
    public int[]? Positions { get; }

    public TrainingBatch(int[] tokens, int[] labels, int sequences, int length, int[]? positions = null)
    {
        if (sequences <= 0 || length <= 0) throw new ArgumentException($"a batch needs sequences ({sequences}) and length ({length}) above zero");
        if (tokens.Length != (long)sequences * length || labels.Length != tokens.Length)
            throw new ArgumentException($"{tokens.Length} tokens and {labels.Length} labels are not {sequences} sequences of {length}");
        Tokens = tokens;
        Labels = labels;
        Sequences = sequences;
        Length = length;
        if (positions != null)
        {
            if (positions.Length != tokens.Length) throw new ArgumentException($"{positions.Length} positions for {tokens.Length} tokens");
            for (int i = 0; i < positions.Length; i++)
            {
                int expected = i % length == 0 ? 0 : positions[i - 1] + 1;
                if (positions[i] != 0 && positions[i] != expected)
                    throw new ArgumentException($"position {positions[i]} at token {i} neither starts an example (0) nor follows {expected - 1}");
            }
            Positions = positions;
        }
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
