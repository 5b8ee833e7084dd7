namespace Agora.Tokenization;

/// <summary>
/// One ranked merge rule of a BPE vocabulary: its two symbols as spans of one "left right" string split at
/// <see cref="Split"/>. Vocabularies list merges in that form (GGUF's <c>tokenizer.ggml.merges</c>, most
/// <c>tokenizer.json</c> files), so a rule is kept as the string that was read instead of two new ones — 280k
/// merges for Llama 3, whose substrings were garbage once the model was built.
/// </summary>
readonly record struct BpeMerge(string Line, int Split)
{
    public ReadOnlySpan<char> Left => Line.AsSpan(0, Split);
    public ReadOnlySpan<char> Right => Line.AsSpan(Split + 1);

    /// <summary>A rule given as two symbols (joined once; the symbols may themselves contain spaces).</summary>
    public static BpeMerge Of(string left, string right) => new(left + " " + right, left.Length);
}
