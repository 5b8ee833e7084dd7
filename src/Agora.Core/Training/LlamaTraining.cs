using Agora.Adapters;
using Agora.Models;
using Agora.Tensors.Kernels;

namespace Agora.Training;

/// <summary>Forward with saved activations and backward for <see cref="LlamaModel"/> (LLaMA, Mistral, Qwen2).</summary>
sealed class LlamaTraining : TrainableTransformer
{
    readonly LlamaModel _model;
    readonly float[] _inverseRotation;
    // One set of saved activations per block, or one shared by all when checkpointing; the backward's buffers.
    Saved[] _saved = [];
    Gradients? _gradients;

    /// <summary>One block's saved activations (its input is the workspace's): inputs of the second norm and of every projection, attention weights.</summary>
    sealed class Saved(int tokens, int attentionWeights, int hidden, int q, int kv, int ffn)
    {
        public readonly float[] Normed = TrainingWorkspace.Rows(tokens, hidden), Query = TrainingWorkspace.Rows(tokens, q),
            Key = TrainingWorkspace.Rows(tokens, kv), Value = TrainingWorkspace.Rows(tokens, kv), Probabilities = new float[attentionWeights],
            Attention = TrainingWorkspace.Rows(tokens, q), Middle = TrainingWorkspace.Rows(tokens, hidden), MlpNormed = TrainingWorkspace.Rows(tokens, hidden),
            Gate = TrainingWorkspace.Rows(tokens, ffn), Up = TrainingWorkspace.Rows(tokens, ffn), Hidden = TrainingWorkspace.Rows(tokens, ffn);
    }

    sealed class Gradients(int tokens, int attentionWeights, int hidden, int q, int kv, int ffn)
    {
        public readonly float[] Normed = TrainingWorkspace.Rows(tokens, hidden), Part = TrainingWorkspace.Rows(tokens, hidden),
            Hidden = TrainingWorkspace.Rows(tokens, ffn), Gate = TrainingWorkspace.Rows(tokens, ffn), Up = TrainingWorkspace.Rows(tokens, ffn),
            Attention = TrainingWorkspace.Rows(tokens, q), Query = TrainingWorkspace.Rows(tokens, q), Key = TrainingWorkspace.Rows(tokens, kv),
            Value = TrainingWorkspace.Rows(tokens, kv), Scores = new float[attentionWeights];
    }

    internal LlamaTraining(LlamaModel model, LoraAdapter? adapter) : base(model, adapter, Norms(model))
    {
        _model = model;
        // Rotation is orthogonal: its backward is the rotation by the opposite angle.
        _inverseRotation = [.. model.RotaryFrequencies.Select(f => -f)];
    }

    static IEnumerable<(string, float[])> Norms(LlamaModel model)
    {
        for (int l = 0; l < model.Blocks.Count; l++)
        {
            yield return ($"model.layers.{l}.input_layernorm.weight", model.Blocks[l].AttentionNorm);
            yield return ($"model.layers.{l}.post_attention_layernorm.weight", model.Blocks[l].MlpNorm);
        }
        yield return ("model.norm.weight", model.FinalNormWeight);
    }

    private protected override LinearLayer Head => _model.OutputHead;

    private protected override void FinalNorm(ReadOnlySpan<float> x, Span<float> normed) =>
        Normalization.RmsNorm(x, _model.FinalNormWeight, Config.NormEpsilon, normed);

    private protected override void FinalNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dNormed, Span<float> dx) =>
        NormBackward.RmsNorm(x, _model.FinalNormWeight, Config.NormEpsilon, dNormed, dx, GradientOf(_model.FinalNormWeight));

    private protected override void AllocateBlocks(int tokens, int attentionWeights, bool checkpointing)
    {
        var c = Config;
        int q = c.HeadCount * c.HeadDim, kv = c.KvHeadCount * c.HeadDim;
        _saved = [];
        _gradients = null;
        if (tokens == 0) return;
        _saved = [.. Enumerable.Range(0, checkpointing ? 1 : c.LayerCount).Select(_ => new Saved(tokens, attentionWeights, c.HiddenSize, q, kv, c.IntermediateSize))];
        _gradients = new Gradients(tokens, attentionWeights, c.HiddenSize, q, kv, c.IntermediateSize);
    }

    Saved SavedOf(int layer) => _saved[_saved.Length == 1 ? 0 : layer];

    /// <summary>Rotates every example of the batch in place, each from position 0.</summary>
    void Rotate(Span<float> x, TrainingBatch batch, float[] frequencies)
    {
        int length = batch.Length, row = x.Length / batch.Tokens.Length;
        var positions = batch.Positions;
        for (int s = 0; s < batch.Sequences; s++)
            for (int start = 0, t = 1; t <= length; t++)
                if (t == length || positions?[s * length + t] == 0)
                {
                    Rope.Apply(x.Slice((s * length + start) * row, (t - start) * row), t - start, Config.HeadDim, 0, frequencies, RopeLayout.NeoX);
                    start = t;
                }
    }

    private protected override void ForwardBlock(int layer, ReadOnlySpan<float> input, Span<float> output, TrainingBatch batch)
    {
        var c = Config;
        var b = _model.Blocks[layer];
        var s = SavedOf(layer);
        int n = batch.Tokens.Length, hidden = c.HiddenSize, q = c.HeadCount * c.HeadDim, kv = c.KvHeadCount * c.HeadDim, ffn = c.IntermediateSize;
        var normed = s.Normed.AsSpan(0, n * hidden);
        var query = s.Query.AsSpan(0, n * q);
        var key = s.Key.AsSpan(0, n * kv);
        var attention = s.Attention.AsSpan(0, n * q);
        var middle = s.Middle.AsSpan(0, n * hidden);
        var mlpNormed = s.MlpNormed.AsSpan(0, n * hidden);
        var hiddenActivation = s.Hidden.AsSpan(0, n * ffn);

        // middle = input + o(attention(rope(q(n1)), rope(k(n1)), v(n1))), the output projection going through `output`.
        Normalization.RmsNorm(input, b.AttentionNorm, c.NormEpsilon, normed);
        Linear(b.Query, normed, query, n);
        Linear(b.Key, normed, key, n);
        Linear(b.Value, normed, s.Value, n);
        Rotate(query, batch, _model.RotaryFrequencies);
        Rotate(key, batch, _model.RotaryFrequencies);
        AttentionTraining.Forward(query, key, s.Value.AsSpan(0, n * kv), batch.Sequences, batch.Length, c.HeadCount, c.KvHeadCount, c.HeadDim,
            c.SlidingWindow ?? 0, [], batch.Positions, s.Probabilities.AsSpan(0, batch.Sequences * c.HeadCount * batch.Length * batch.Length), attention);
        Linear(b.AttentionOutput, attention, output, n);
        Activations.Add(input, output, middle);

        // output = middle + down(swiglu(gate(n2), up(n2)))
        Normalization.RmsNorm(middle, b.MlpNorm, c.NormEpsilon, mlpNormed);
        Linear(b.Gate, mlpNormed, s.Gate, n);
        Linear(b.Up, mlpNormed, s.Up, n);
        Activations.SwiGlu(s.Gate.AsSpan(0, n * ffn), s.Up.AsSpan(0, n * ffn), hiddenActivation);
        Linear(b.Down, hiddenActivation, output, n);
        Activations.Add(middle, output, output);
    }

    private protected override void BackwardBlock(int layer, Span<float> dx, TrainingBatch batch)
    {
        var c = Config;
        var b = _model.Blocks[layer];
        var s = SavedOf(layer);
        var g = _gradients!;
        int n = batch.Tokens.Length, hidden = c.HiddenSize, q = c.HeadCount * c.HeadDim, kv = c.KvHeadCount * c.HeadDim, ffn = c.IntermediateSize;
        var input = Workspace.BlockInputs[layer].AsSpan(0, n * hidden);
        var dNormed = g.Normed.AsSpan(0, n * hidden);
        var part = g.Part.AsSpan(0, n * hidden);
        var dQuery = g.Query.AsSpan(0, n * q);
        var dKey = g.Key.AsSpan(0, n * kv);
        int weights = batch.Sequences * c.HeadCount * batch.Length * batch.Length;

        // MLP: the residual passes dx through; the norm's backward adds the branch's gradient to it.
        LinearGradient(b.Down, s.Hidden, dx, g.Hidden, n);
        ActivationBackward.SwiGlu(s.Gate.AsSpan(0, n * ffn), s.Up.AsSpan(0, n * ffn), g.Hidden.AsSpan(0, n * ffn), g.Gate, g.Up);
        LinearGradient(b.Gate, s.MlpNormed, g.Gate, dNormed, n);
        LinearGradient(b.Up, s.MlpNormed, g.Up, part, n);
        Activations.Add(dNormed, part, dNormed);
        NormBackward.RmsNorm(s.Middle.AsSpan(0, n * hidden), b.MlpNorm, c.NormEpsilon, dNormed, dx, GradientOf(b.MlpNorm));

        // Attention.
        LinearGradient(b.AttentionOutput, s.Attention, dx, g.Attention, n);
        AttentionTraining.Backward(s.Query.AsSpan(0, n * q), s.Key.AsSpan(0, n * kv), s.Value.AsSpan(0, n * kv), s.Probabilities.AsSpan(0, weights),
            g.Attention.AsSpan(0, n * q), batch.Sequences, batch.Length, c.HeadCount, c.KvHeadCount, c.HeadDim, c.SlidingWindow ?? 0,
            batch.Positions, g.Scores, dQuery, dKey, g.Value.AsSpan(0, n * kv));
        Rotate(dQuery, batch, _inverseRotation);
        Rotate(dKey, batch, _inverseRotation);
        LinearGradient(b.Query, s.Normed, dQuery, dNormed, n);
        LinearGradient(b.Key, s.Normed, dKey, part, n);
        Activations.Add(dNormed, part, dNormed);
        LinearGradient(b.Value, s.Normed, g.Value, part, n);
        Activations.Add(dNormed, part, dNormed);
        NormBackward.RmsNorm(input, b.AttentionNorm, c.NormEpsilon, dNormed, dx, GradientOf(b.AttentionNorm));
    }
}
