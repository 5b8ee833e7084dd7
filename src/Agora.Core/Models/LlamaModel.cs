using Agora.Formats.Checkpoint;
using Agora.Tensors.Kernels;

namespace Agora.Models;

/// <summary>
/// The LLaMA family (Llama 1/2/3, Mistral, SmolLM, TinyLlama; Qwen2 adds q/k/v biases): pre-norm blocks with
/// RMSNorm, rotary position embeddings (rotate-half layout, as Hugging Face computes them; pairwise on the Q/K rows
/// of llama.cpp's files when those are read as stored), grouped-query causal attention (Mistral's sliding window
/// where the config has one) and a SwiGLU feed-forward; a final RMSNorm and the output head (or the embedding, when
/// tied).
/// </summary>
public sealed class LlamaModel : TransformerModel
{
    internal sealed record Block(float[] AttentionNorm, LinearLayer Query, LinearLayer Key, LinearLayer Value, LinearLayer AttentionOutput,
        float[] MlpNorm, LinearLayer Gate, LinearLayer Up, LinearLayer Down);

    readonly Block[] _blocks;
    readonly float[] _finalNorm;
    readonly LinearLayer _head;
    readonly float[] _inverseFrequencies;
    readonly RopeLayout _ropeLayout;
    readonly LinearLayer[] _linearLayers;

    public override IReadOnlyList<LinearLayer> LinearLayers => _linearLayers;
    internal override LinearLayer OutputHead => _head;
    // What training's forward and backward read (Agora.Training).
    internal IReadOnlyList<Block> Blocks => _blocks;
    internal float[] FinalNormWeight => _finalNorm;
    internal float[] RotaryFrequencies => _inverseFrequencies;
    /// <summary>Interleaved when the Q/K weights are llama.cpp's paired rows read as stored, else rotate-half (Hugging Face order).</summary>
    internal RopeLayout RopeLayout => _ropeLayout;

    internal LlamaModel(Checkpoint checkpoint, WeightLoader weights)
        : base(checkpoint, weights.Matrix("model.embed_tokens.weight", checkpoint.Config.VocabSize, checkpoint.Config.HiddenSize))
    {
        var c = Config;
        int hidden = c.HiddenSize, q = c.HeadCount * c.HeadDim, kv = c.KvHeadCount * c.HeadDim, ffn = c.IntermediateSize;
        // Qwen2 windows only the layers from max_window_layers on, which the config does not carry here.
        if (c.Architecture == ModelArchitecture.Qwen2 && c.SlidingWindow != null)
            throw new AgoraException($"{checkpoint.Path}: Qwen2 with sliding-window attention (use_sliding_window) is not supported");
        // llama.cpp's LLaMA files pair each head's rotary halves in adjacent Q/K rows. Rotating adjacent pairs then
        // gives the rotate-half result permuted alike in q and k within each head, so every q·k (and the attention)
        // is unchanged: the weights serve as stored. (Partial rotary pairs other elements; those get copies.)
        bool paired = c.RopeDimensions == c.HeadDim && weights.KeepsStored(StoredRowOrder.RopePairs,
            Enumerable.Range(0, c.LayerCount).SelectMany(l => new[] { $"model.layers.{l}.self_attn.q_proj", $"model.layers.{l}.self_attn.k_proj" }));
        _ropeLayout = paired ? RopeLayout.Interleaved : RopeLayout.NeoX;
        _blocks = new Block[c.LayerCount];
        for (int l = 0; l < c.LayerCount; l++)
        {
            var p = $"model.layers.{l}.";
            _blocks[l] = new Block(
                weights.Vector(p + "input_layernorm.weight", hidden),
                weights.Linear(p + "self_attn.q_proj", hidden, q, c.QkvBias, asStored: paired),
                weights.Linear(p + "self_attn.k_proj", hidden, kv, c.QkvBias, asStored: paired),
                weights.Linear(p + "self_attn.v_proj", hidden, kv, c.QkvBias),
                weights.Linear(p + "self_attn.o_proj", q, hidden, c.OutputBias),
                weights.Vector(p + "post_attention_layernorm.weight", hidden),
                weights.Linear(p + "mlp.gate_proj", hidden, ffn, c.MlpBias),
                weights.Linear(p + "mlp.up_proj", hidden, ffn, c.MlpBias),
                weights.Linear(p + "mlp.down_proj", ffn, hidden, c.MlpBias));
        }
        _finalNorm = weights.Vector("model.norm.weight", hidden);
        _head = c.TieWordEmbeddings
            ? weights.TiedHead(weights.Matrix("model.embed_tokens.weight", c.VocabSize, hidden))
            : weights.Linear("lm_head", hidden, c.VocabSize, bias: false);
        _inverseFrequencies = InverseFrequencies(c, weights);
        _linearLayers = [.. _blocks.SelectMany(b => new[] { b.Query, b.Key, b.Value, b.AttentionOutput, b.Gate, b.Up, b.Down }), _head];
    }

    static float[] InverseFrequencies(ModelConfig c, WeightLoader weights)
    {
        if (c.RopeScaling is { Kind: Formats.Checkpoint.RopeScalingKind.FrequencyFactors })
        {
            // llama.cpp's converter stores Llama 3 scaling as one divisor per frequency.
            var inverse = Rope.InverseFrequencies(c.RopeDimensions, c.RopeTheta);
            var factors = weights.Vector("rope_freqs.weight", inverse.Length);
            for (int i = 0; i < inverse.Length; i++) inverse[i] /= factors[i];
            return inverse;
        }
        return Rope.InverseFrequencies(c.RopeDimensions, c.RopeTheta, c.RopeScaling?.KernelScaling());
    }

    internal override void Forward(ReadOnlySpan<int> tokens, int start, KvCache cache, ForwardBuffers buffers, Span<float> logits)
    {
        var c = Config;
        int n = tokens.Length, end = start + n;
        int hidden = c.HiddenSize, q = c.HeadCount * c.HeadDim, kv = c.KvHeadCount * c.HeadDim, ffn = c.IntermediateSize;
        var x = buffers.Hidden.AsSpan(0, n * hidden);
        var normed = buffers.Normed.AsSpan(0, n * hidden);
        var query = buffers.Query.AsSpan(0, n * q);
        var attention = buffers.Attention.AsSpan(0, n * q);
        var gate = buffers.Gate.AsSpan(0, n * ffn);
        var up = buffers.Up.AsSpan(0, n * ffn);
        var rank = buffers.DeltaRank.AsSpan();
        var wide = buffers.DeltaOut.AsSpan();

        Embed(tokens, x);
        for (int l = 0; l < _blocks.Length; l++)
        {
            var b = _blocks[l];
            // Attention sub-layer: the new keys and values go straight into the cache at their positions.
            var keys = cache.Keys(l, end);
            var values = cache.Values(l, end);
            var newKeys = keys.Slice(start * kv, n * kv);
            Normalization.RmsNorm(x, b.AttentionNorm, c.NormEpsilon, normed);
            LinearLayer.Forward(normed, n, rank, wide, b.Query, query, b.Key, newKeys, b.Value, values.Slice(start * kv, n * kv));
            Rope.Apply(query, n, c.HeadDim, start, _inverseFrequencies, _ropeLayout);
            Rope.Apply(newKeys, n, c.HeadDim, start, _inverseFrequencies, _ropeLayout);
            CausalAttention.Compute(query, keys, values, n, start, c.HeadCount, c.KvHeadCount, c.HeadDim, c.SlidingWindow ?? 0, [], buffers.Scores, attention);
            b.AttentionOutput.Forward(attention, normed, n, rank, wide);
            Activations.Add(x, normed, x);

            // Feed-forward sub-layer: down(SiLU(gate(h)) · up(h)).
            Normalization.RmsNorm(x, b.MlpNorm, c.NormEpsilon, normed);
            LinearLayer.Forward(normed, n, rank, wide, b.Gate, gate, b.Up, up);
            Activations.SwiGlu(gate, up, gate);
            b.Down.Forward(gate, normed, n, rank, wide);
            Activations.Add(x, normed, x);
        }
        Head(x, n, buffers, logits);
    }

    private protected override void FinalNorm(ReadOnlySpan<float> x, Span<float> dst) => Normalization.RmsNorm(x, _finalNorm, Config.NormEpsilon, dst);
}
