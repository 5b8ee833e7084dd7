namespace Agora.Inference;

/// <summary>
/// One sequence being run through a model: the tokens fed so far live in its KV cache. What sampling, generation
/// and scoring need, and all they may touch; the transformer's session implements it, tests use small fakes.
/// </summary>
public interface ITokenSession
{
    int VocabSize { get; }
    /// <summary>The most tokens the sequence may hold.</summary>
    int ContextLength { get; }
    /// <summary>How many tokens are in the cache; the next token fed gets this position.</summary>
    int Position { get; }

    /// <summary>
    /// Appends <paramref name="tokens"/> (one pass over all of them: prefill) and writes logits: for the last token
    /// when <paramref name="logits"/> holds VocabSize values, for every token when it holds tokens.Length × VocabSize.
    /// Exceeding <see cref="ContextLength"/> or an id outside the vocabulary throws <see cref="AgoraException"/>
    /// and leaves the session as it was.
    /// </summary>
    void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits);

    /// <summary>Forgets the tokens at <paramref name="position"/> and after (0 empties the session).</summary>
    void Rewind(int position);
}
