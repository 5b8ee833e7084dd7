using Agora.Models;

namespace Agora.Inference;

/// <summary>
/// One sequence running through a <see cref="TransformerModel"/>: its KV cache, its position and the scratch its
/// forward passes reuse. A prompt goes in one pass (prefill), then one token per step. Not thread-safe; many
/// sessions may share one model.
/// </summary>
public sealed class InferenceSession : ITokenSession
{
    readonly KvCache _cache;
    ForwardBuffers? _buffers;

    public TransformerModel Model { get; }
    public int VocabSize => Model.VocabSize;
    public int ContextLength { get; }
    public int Position { get; private set; }

    internal InferenceSession(TransformerModel model, int contextLength)
    {
        if (contextLength <= 0) throw new AgoraException($"context length {contextLength} must be positive");
        Model = model;
        ContextLength = contextLength;
        _cache = model.CreateCache(contextLength);
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
        if (_buffers == null || _buffers.Tokens < tokens.Length)
            _buffers = Model.CreateBuffers(tokens.Length, ContextLength);
        Model.Forward(tokens, Position, _cache, _buffers, logits);
        Position += tokens.Length;
    }

    public void Rewind(int position)
    {
        if (position < 0 || position > Position)
            throw new AgoraException($"cannot rewind to position {position}: the session holds {Position} tokens");
        Position = position;
    }
}
