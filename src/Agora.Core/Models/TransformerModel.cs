using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Models;

/// <summary>
/// A decoder-only transformer ready to run: its weights (memory-mapped from the checkpoint, which must stay open
/// while the model is used) and its forward pass. Immutable and shareable across threads; each sequence runs in
/// its own session (Agora.Inference.InferenceSession).
/// </summary>
public abstract unsafe class TransformerModel
{
    readonly WeightTable _embedding;
    readonly long _embeddingRowBytes;

    public ModelConfig Config { get; }
    /// <summary>The checkpoint's path, for messages.</summary>
    public string Source { get; }
    public int VocabSize => Config.VocabSize;
    /// <summary>Every linear layer, in forward order (for inspection: types, attached deltas).</summary>
    public abstract IReadOnlyList<LinearLayer> LinearLayers { get; }

    private protected TransformerModel(Checkpoint checkpoint, WeightTable embedding)
    {
        Config = checkpoint.Config;
        Source = checkpoint.Path;
        _embedding = embedding;
        _embeddingRowBytes = GgmlTypeInfo.ByteSize(embedding.Type, Config.HiddenSize);
    }

    /// <summary>
    /// Builds the model of <paramref name="checkpoint"/>'s architecture. <paramref name="deltas"/> are low-rank updates
    /// keyed by the Hugging Face name of the weight they change (<c>model.layers.0.self_attn.q_proj.weight</c>), in
    /// Hugging Face row order: applied at every step, or, with <paramref name="mergeDeltas"/>, folded once into float32
    /// copies of those weights. <paramref name="rowOrder"/> <see cref="WeightRowOrder.AsStored"/> reads llama.cpp's
    /// re-ordered tensors in place rather than copying them (for inference; the outputs are the same); training needs
    /// the default.
    /// </summary>
    public static TransformerModel Load(Checkpoint checkpoint, IReadOnlyDictionary<string, LowRankDelta>? deltas = null, bool mergeDeltas = false,
        WeightRowOrder rowOrder = WeightRowOrder.HuggingFace) =>
        Load(new WeightLoader(checkpoint, deltas, mergeDeltas, rowOrder: rowOrder), checkpoint);

    /// <summary>The model with every weight an owned float32 copy, for training them all (Agora.Training).</summary>
    internal static TransformerModel LoadOwned(Checkpoint checkpoint) => Load(new WeightLoader(checkpoint, null, false, ownWeights: true), checkpoint);

    static TransformerModel Load(WeightLoader loader, Checkpoint checkpoint)
    {
        TransformerModel model = checkpoint.Config.Architecture switch
        {
            ModelArchitecture.Llama or ModelArchitecture.Qwen2 => new LlamaModel(checkpoint, loader),
            ModelArchitecture.Bloom => new BloomModel(checkpoint, loader),
            var a => throw new AgoraException($"{checkpoint.Path}: architecture {a} is not supported"),
        };
        loader.Finish();
        return model;
    }

    /// <summary>Scratch for passes over up to <paramref name="tokens"/> tokens in a sequence of up to <paramref name="contextLength"/>.</summary>
    internal ForwardBuffers CreateBuffers(int tokens, int contextLength)
    {
        int rank = 0, width = 0;
        foreach (var layer in LinearLayers)
            if (layer.MaxRank > 0)
            {
                rank = Math.Max(rank, layer.MaxRank);
                width = Math.Max(width, layer.Out);
            }
        return new ForwardBuffers(Config, tokens, contextLength, rank, width);
    }

    /// <summary>A cache sized for this model.</summary>
    internal KvCache CreateCache(int contextLength) => new(Config.LayerCount, Config.KvHeadCount * Config.HeadDim, contextLength);

    /// <summary>
    /// Runs <paramref name="tokens"/> (at positions start, start + 1, …) through the model, storing their keys and
    /// values in <paramref name="cache"/> (which must already hold positions 0..start − 1 and have room for the rest),
    /// and writes logits for the last token, for every token when <paramref name="logits"/> holds
    /// tokens × VocabSize values, or for none when it is empty (a pass before a prompt's last). Inputs are trusted:
    /// the session checks them.
    /// </summary>
    internal abstract void Forward(ReadOnlySpan<int> tokens, int start, KvCache cache, ForwardBuffers buffers, Span<float> logits);

    /// <summary>The owned float32 embedding table [VocabSize, HiddenSize] of a model loaded with owned weights, else null.</summary>
    internal float[]? OwnedEmbedding => _embedding.Values;
    internal string EmbeddingName => _embedding.Name;

    /// <summary>Looks up each token's embedding row (decoded from the table's element type) into [tokens, hidden].</summary>
    internal void Embed(ReadOnlySpan<int> tokens, Span<float> hidden)
    {
        int dim = Config.HiddenSize;
        byte* table = _embedding.Pointer;
        for (int t = 0; t < tokens.Length; t++)
            Quants.Dequantize(_embedding.Type, new ReadOnlySpan<byte>(table + tokens[t] * _embeddingRowBytes, (int)_embeddingRowBytes),
                hidden.Slice(t * dim, dim));
    }

    /// <summary>
    /// The output head over the final hidden states [tokens, hidden]: every row when logits has room for all, none
    /// when it is empty, else the last row only (normalising just what is needed).
    /// </summary>
    private protected void Head(Span<float> hidden, int tokens, ForwardBuffers buffers, Span<float> logits)
    {
        if (logits.IsEmpty) return;
        int dim = Config.HiddenSize;
        int rows = logits.Length == tokens * VocabSize ? tokens : 1;
        var last = hidden.Slice((tokens - rows) * dim, rows * dim);
        var normed = buffers.Normed.AsSpan(0, rows * dim);
        FinalNorm(last, normed);
        OutputHead.Forward(normed, logits[..(rows * VocabSize)], rows, buffers.DeltaRank, buffers.DeltaOut);
    }

    internal abstract LinearLayer OutputHead { get; }

    /// <summary>The norm before the output head, over whole rows.</summary>
    private protected abstract void FinalNorm(ReadOnlySpan<float> x, Span<float> dst);
}
