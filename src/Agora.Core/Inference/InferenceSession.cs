using Agora.Models;

namespace Agora.Inference;

/// <summary>
/// One sequence running through a <see cref="TransformerModel"/>: its KV cache, its position and the scratch its
/// forward passes reuse. A prompt goes in one pass (prefill), then one token per step. Not thread-safe; many
/// sessions may share one model.
/// </summary>
public sealed class InferenceSession : ITokenSession
{
    /// <summary>
    /// The most tokens one forward pass takes: a longer prompt runs in passes of this many, so the scratch, which
    /// grows with the tokens of a pass (about 100 KB per token for Llama-3.2-1B), stays bounded.
    /// </summary>
    public const int MaxPassTokens = 256;

    readonly KvCache _cache;
    ForwardBuffers? _buffers;

    public TransformerModel Model { get; }
    public int VocabSize => Model.VocabSize;
    public int ContextLength { get; }
    public int Position { get; private set; }

    /// <summary>A new, empty sequence of at most <paramref name="contextLength"/> tokens (default: the model's trained context).</summary>
    public InferenceSession(TransformerModel model, int? contextLength = null)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (contextLength <= 0) throw new AgoraException($"context length {contextLength} must be positive");
        Model = model;
        ContextLength = contextLength ?? model.Config.ContextLength;
        _cache = model.CreateCache(ContextLength);
    }

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (tokens.IsEmpty) throw new AgoraException("no tokens to evaluate");
        if (logits.Length != VocabSize && logits.Length != (long)tokens.Length * VocabSize)
            throw new ArgumentException($"logits hold {logits.Length} values: expected {VocabSize} (last token) or {tokens.Length} × {VocabSize} (every token)");
        if (tokens.Length > ContextLength - Position)
            throw new AgoraException($"{tokens.Length} more tokens after {Position} exceed the context length {ContextLength}");
        foreach (int id in tokens)
            if ((uint)id >= (uint)VocabSize)
                throw new AgoraException($"token id {id} is outside the vocabulary (0..{VocabSize - 1})");

        _cache.Reserve(Position + tokens.Length);
        int passTokens = Math.Min(tokens.Length, MaxPassTokens);
        if (_buffers == null || _buffers.Tokens < passTokens)
            _buffers = Model.CreateBuffers(passTokens, ContextLength);
        bool everyToken = logits.Length == tokens.Length * VocabSize;
        for (int done = 0; done < tokens.Length; done += passTokens)
        {
            int n = Math.Min(passTokens, tokens.Length - done);
            // Logits of every token come pass by pass; of the last token, from the last pass only.
            var passLogits = everyToken ? logits.Slice(done * VocabSize, n * VocabSize)
                : done + n == tokens.Length ? logits : Span<float>.Empty;
            Model.Forward(tokens.Slice(done, n), Position + done, _cache, _buffers, passLogits);
        }
        Position += tokens.Length;
    }

    public void Rewind(int position)
    {
        if (position < 0 || position > Position)
            throw new AgoraException($"cannot rewind to position {position}: the session holds {Position} tokens");
        Position = position;
    }
}

/// <summary>Sessions are made from the Inference layer, so that models never depend on it.</summary>
public static class TransformerModelSessions
{
    /// <summary>A new, empty sequence of at most <paramref name="contextLength"/> tokens (default: the model's trained context).</summary>
    public static InferenceSession CreateSession(this TransformerModel model, int? contextLength = null) => new(model, contextLength);
}
