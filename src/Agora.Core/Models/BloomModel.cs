using Agora.Formats.Checkpoint;
using Agora.Tensors.Kernels;

namespace Agora.Models;

/// <summary>
/// BLOOM: a LayerNorm right after the word embedding, pre-norm blocks with LayerNorm (with bias), ALiBi attention
/// (no position embeddings: a per-head linear bias on key positions) through one fused query_key_value projection,
/// a GELU (tanh) feed-forward, a final LayerNorm and the output head tied to the embedding.
/// </summary>
public sealed class BloomModel : TransformerModel
{
    internal sealed record Norm(float[] Weight, float[] Bias);

    internal sealed record Block(Norm AttentionNorm, LinearLayer QueryKeyValue, LinearLayer AttentionOutput,
        Norm MlpNorm, LinearLayer Up, LinearLayer Down);

    readonly Norm _embeddingNorm;
    readonly Block[] _blocks;
    readonly Norm _finalNorm;
    readonly LinearLayer _head;
    readonly float[] _slopes;
    // llama.cpp's files group the fused rows as [all queries, all keys, all values]; read so in place.
    readonly bool _qkvGrouped;
    readonly LinearLayer[] _linearLayers;

    public override IReadOnlyList<LinearLayer> LinearLayers => _linearLayers;
    internal override LinearLayer OutputHead => _head;
    // What training's forward and backward read (Agora.Training).
    internal Norm EmbeddingNorm => _embeddingNorm;
    internal IReadOnlyList<Block> Blocks => _blocks;
    internal Norm FinalLayerNorm => _finalNorm;
    internal float[] AlibiSlopes => _slopes;

    internal BloomModel(Checkpoint checkpoint, WeightLoader weights)
        : base(checkpoint, weights.Matrix("transformer.word_embeddings.weight", checkpoint.Config.VocabSize, checkpoint.Config.HiddenSize))
    {
        var c = Config;
        int hidden = c.HiddenSize, ffn = c.IntermediateSize;
        if (c.KvHeadCount != c.HeadCount || c.HeadCount * c.HeadDim != hidden)
            throw new AgoraFormatException(checkpoint.Path, $"BLOOM needs {c.HeadCount} heads of {c.HeadDim} to fill the hidden size {hidden}, " +
                $"with as many KV heads (config has {c.KvHeadCount})");
        Norm LayerNorm(string prefix) => new(weights.Vector(prefix + ".weight", hidden), weights.Vector(prefix + ".bias", hidden));

        _embeddingNorm = LayerNorm("transformer.word_embeddings_layernorm");
        _qkvGrouped = weights.KeepsStored(StoredRowOrder.QkvGrouped,
            Enumerable.Range(0, c.LayerCount).Select(l => $"transformer.h.{l}.self_attention.query_key_value"));
        _blocks = new Block[c.LayerCount];
        for (int l = 0; l < c.LayerCount; l++)
        {
            var p = $"transformer.h.{l}.";
            _blocks[l] = new Block(
                LayerNorm(p + "input_layernorm"),
                weights.Linear(p + "self_attention.query_key_value", hidden, 3 * hidden, bias: true, asStored: _qkvGrouped),
                weights.Linear(p + "self_attention.dense", hidden, hidden, bias: true),
                LayerNorm(p + "post_attention_layernorm"),
                weights.Linear(p + "mlp.dense_h_to_4h", hidden, ffn, bias: true),
                weights.Linear(p + "mlp.dense_4h_to_h", ffn, hidden, bias: true));
        }
        _finalNorm = LayerNorm("transformer.ln_f");
        _head = c.TieWordEmbeddings
            ? weights.TiedHead(weights.Matrix("transformer.word_embeddings.weight", c.VocabSize, hidden))
            : weights.Linear("lm_head", hidden, c.VocabSize, bias: false);
        _slopes = Alibi.Slopes(c.HeadCount);
        _linearLayers = [.. _blocks.SelectMany(b => new[] { b.QueryKeyValue, b.AttentionOutput, b.Up, b.Down }), _head];
    }

    internal override void Forward(ReadOnlySpan<int> tokens, int start, KvCache cache, ForwardBuffers buffers, Span<float> logits)
    {
        var c = Config;
        int n = tokens.Length, end = start + n, hidden = c.HiddenSize, headDim = c.HeadDim, ffn = c.IntermediateSize;
        var x = buffers.Hidden.AsSpan(0, n * hidden);
        var normed = buffers.Normed.AsSpan(0, n * hidden);
        var query = buffers.Query.AsSpan(0, n * hidden);
        var fused = buffers.Attention.AsSpan(0, n * 3 * hidden);
        var attention = buffers.Attention.AsSpan(0, n * hidden);
        var up = buffers.Up.AsSpan(0, n * ffn);
        var rank = buffers.DeltaRank.AsSpan();
        var wide = buffers.DeltaOut.AsSpan();

        Embed(tokens, x);
        Normalization.LayerNorm(x, _embeddingNorm.Weight, _embeddingNorm.Bias, c.NormEpsilon, x);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var b = _blocks[l];
            var keys = cache.Keys(l, end);
            var values = cache.Values(l, end);
            Normalization.LayerNorm(x, b.AttentionNorm.Weight, b.AttentionNorm.Bias, c.NormEpsilon, normed);
            b.QueryKeyValue.Forward(normed, fused, n, rank, wide);
            // The fused rows are grouped per head as [query, key, value] (Hugging Face's [heads, 3, head_dim]), or
            // as llama.cpp stores them: [query heads, key heads, value heads]. Either way each head's d rows are adjacent.
            int headStride = _qkvGrouped ? headDim : 3 * headDim, partStride = _qkvGrouped ? hidden : headDim;
            for (int t = 0; t < n; t++)
                for (int h = 0; h < c.HeadCount; h++)
                {
                    var source = fused[(t * 3 * hidden + h * headStride)..];
                    int row = t * hidden + h * headDim;
                    source[..headDim].CopyTo(query.Slice(row, headDim));
                    source.Slice(partStride, headDim).CopyTo(keys.Slice(start * hidden + row, headDim));
                    source.Slice(2 * partStride, headDim).CopyTo(values.Slice(start * hidden + row, headDim));
                }
            CausalAttention.Compute(query, keys, values, n, start, c.HeadCount, c.HeadCount, headDim, 0, _slopes, buffers.Scores, attention);
            b.AttentionOutput.Forward(attention, normed, n, rank, wide);
            Activations.Add(x, normed, x);

            Normalization.LayerNorm(x, b.MlpNorm.Weight, b.MlpNorm.Bias, c.NormEpsilon, normed);
            b.Up.Forward(normed, up, n, rank, wide);
            Activations.GeluTanh(up, up);
            b.Down.Forward(up, normed, n, rank, wide);
            Activations.Add(x, normed, x);
        }
        Head(x, n, buffers, logits);
    }

    private protected override void FinalNorm(ReadOnlySpan<float> x, Span<float> dst) =>
        Normalization.LayerNorm(x, _finalNorm.Weight, _finalNorm.Bias, Config.NormEpsilon, dst);
}
