using Agora.Adapters;
using Agora.Models;
using Agora.Tensors.Kernels;

namespace Agora.Training;

/// <summary>Forward with saved activations and backward for <see cref="LlamaModel"/> (LLaMA, Mistral, Qwen2).</summary>
sealed class LlamaTraining : TrainableTransformer
{
    readonly LlamaModel _model;
    readonly float[] _inverseRotation;

    /// <summary>One block's saved activations: inputs of both norms and of every projection, attention weights.</summary>
    sealed record Saved(float[] Input, float[] Normed, float[] Query, float[] Key, float[] Value, float[] Probabilities,
        float[] Attention, float[] Middle, float[] MlpNormed, float[] Gate, float[] Up, float[] Hidden);

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

    private protected override void FinalNorm(float[] x, float[] normed) =>
        Normalization.RmsNorm(x, _model.FinalNormWeight, Config.NormEpsilon, normed);

    private protected override void FinalNormBackward(float[] x, float[] dNormed, float[] dx) =>
        NormBackward.RmsNorm(x, _model.FinalNormWeight, Config.NormEpsilon, dNormed, dx, GradientOf(_model.FinalNormWeight));

    void Rotate(float[] x, TrainingBatch batch, float[] frequencies)
    {
        int row = x.Length / batch.Tokens.Length;
        for (int s = 0; s < batch.Sequences; s++)
            Rope.Apply(x.AsSpan(s * batch.Length * row, batch.Length * row), batch.Length, Config.HeadDim, 0, frequencies, RopeLayout.NeoX);
    }

    private protected override object ForwardBlocks(float[] x, TrainingBatch batch)
    {
        var c = Config;
        int n = batch.Tokens.Length, hidden = c.HiddenSize;
        var saved = new Saved[_model.Blocks.Count];
        for (int l = 0; l < saved.Length; l++)
        {
            var b = _model.Blocks[l];
            var input = (float[])x.Clone();
            var normed = new float[n * hidden];
            Normalization.RmsNorm(x, b.AttentionNorm, c.NormEpsilon, normed);
            var query = Linear(b.Query, normed, n);
            var key = Linear(b.Key, normed, n);
            var value = Linear(b.Value, normed, n);
            Rotate(query, batch, _model.RotaryFrequencies);
            Rotate(key, batch, _model.RotaryFrequencies);
            var probabilities = new float[batch.Sequences * c.HeadCount * batch.Length * batch.Length];
            var attention = new float[n * c.HeadCount * c.HeadDim];
            AttentionTraining.Forward(query, key, value, batch.Sequences, batch.Length, c.HeadCount, c.KvHeadCount, c.HeadDim,
                c.SlidingWindow ?? 0, [], probabilities, attention);
            Activations.Add(x, Linear(b.AttentionOutput, attention, n), x);

            var middle = (float[])x.Clone();
            var mlpNormed = new float[n * hidden];
            Normalization.RmsNorm(x, b.MlpNorm, c.NormEpsilon, mlpNormed);
            var gate = Linear(b.Gate, mlpNormed, n);
            var up = Linear(b.Up, mlpNormed, n);
            var h = new float[gate.Length];
            Activations.SwiGlu(gate, up, h);
            Activations.Add(x, Linear(b.Down, h, n), x);
            saved[l] = new Saved(input, normed, query, key, value, probabilities, attention, middle, mlpNormed, gate, up, h);
        }
        return saved;
    }

    private protected override void BackwardBlocks(object state, float[] dx, TrainingBatch batch)
    {
        var c = Config;
        var saved = (Saved[])state;
        int n = batch.Tokens.Length, hidden = c.HiddenSize, ffn = c.IntermediateSize;
        int q = c.HeadCount * c.HeadDim, kv = c.KvHeadCount * c.HeadDim;
        var dNormed = new float[n * hidden];
        var part = new float[n * hidden];
        var dHidden = new float[n * ffn];
        var dGate = new float[n * ffn];
        var dUp = new float[n * ffn];
        var dAttention = new float[n * q];
        var dQuery = new float[n * q];
        var dKey = new float[n * kv];
        var dValue = new float[n * kv];
        for (int l = saved.Length - 1; l >= 0; l--)
        {
            var b = _model.Blocks[l];
            var s = saved[l];
            // MLP: x_out = middle + down(swiglu(gate(n2), up(n2)))
            LinearGradient(b.Down, s.Hidden, dx, dHidden, n);
            ActivationBackward.SwiGlu(s.Gate, s.Up, dHidden, dGate, dUp);
            LinearGradient(b.Gate, s.MlpNormed, dGate, dNormed, n);
            LinearGradient(b.Up, s.MlpNormed, dUp, part, n);
            Activations.Add(dNormed, part, dNormed);
            NormBackward.RmsNorm(s.Middle, b.MlpNorm, c.NormEpsilon, dNormed, dx, GradientOf(b.MlpNorm));

            // Attention: middle = input + o(attention(rope(q(n1)), rope(k(n1)), v(n1)))
            LinearGradient(b.AttentionOutput, s.Attention, dx, dAttention, n);
            AttentionTraining.Backward(s.Query, s.Key, s.Value, s.Probabilities, dAttention, batch.Sequences, batch.Length,
                c.HeadCount, c.KvHeadCount, c.HeadDim, dQuery, dKey, dValue);
            Rotate(dQuery, batch, _inverseRotation);
            Rotate(dKey, batch, _inverseRotation);
            LinearGradient(b.Query, s.Normed, dQuery, dNormed, n);
            LinearGradient(b.Key, s.Normed, dKey, part, n);
            Activations.Add(dNormed, part, dNormed);
            LinearGradient(b.Value, s.Normed, dValue, part, n);
            Activations.Add(dNormed, part, dNormed);
            NormBackward.RmsNorm(s.Input, b.AttentionNorm, c.NormEpsilon, dNormed, dx, GradientOf(b.AttentionNorm));
        }
    }
}
