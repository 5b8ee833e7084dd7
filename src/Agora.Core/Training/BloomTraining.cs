using Agora.Adapters;
using Agora.Models;
using Agora.Tensors.Kernels;

namespace Agora.Training;

/// <summary>Forward with saved activations and backward for <see cref="BloomModel"/>.</summary>
sealed class BloomTraining : TrainableTransformer
{
    readonly BloomModel _model;

    sealed record Saved(float[] Input, float[] Normed, float[] Query, float[] Key, float[] Value, float[] Probabilities,
        float[] Attention, float[] Middle, float[] MlpNormed, float[] Up, float[] Hidden);

    sealed record SavedBlocks(float[] Embedded, Saved[] Blocks);

    internal BloomTraining(BloomModel model, LoraAdapter? adapter) : base(model, adapter, Norms(model)) => _model = model;

    static IEnumerable<(string, float[])> Norms(BloomModel model)
    {
        IEnumerable<(string, float[])> Norm(string name, BloomModel.Norm n) => [(name + ".weight", n.Weight), (name + ".bias", n.Bias)];
        var all = Norm("transformer.word_embeddings_layernorm", model.EmbeddingNorm);
        for (int l = 0; l < model.Blocks.Count; l++)
            all = all.Concat(Norm($"transformer.h.{l}.input_layernorm", model.Blocks[l].AttentionNorm))
                .Concat(Norm($"transformer.h.{l}.post_attention_layernorm", model.Blocks[l].MlpNorm));
        return all.Concat(Norm("transformer.ln_f", model.FinalLayerNorm));
    }

    /// <summary>LayerNorm's backward, accumulating the scale and bias gradients when they are trained.</summary>
    void LayerNormBackward(float[] x, BloomModel.Norm norm, float[] dy, float[] dx) =>
        NormBackward.LayerNorm(x, norm.Weight, Config.NormEpsilon, dy, dx, GradientOf(norm.Weight), GradientOf(norm.Bias));

    private protected override LinearLayer Head => _model.OutputHead;

    private protected override void FinalNorm(float[] x, float[] normed) =>
        Normalization.LayerNorm(x, _model.FinalLayerNorm.Weight, _model.FinalLayerNorm.Bias, Config.NormEpsilon, normed);

    private protected override void FinalNormBackward(float[] x, float[] dNormed, float[] dx) =>
        LayerNormBackward(x, _model.FinalLayerNorm, dNormed, dx);

    /// <summary>
    /// The fused projection's rows are grouped per head as [query, key, value]; <paramref name="split"/> moves them
    /// into (or, false, back out of) separate query, key and value rows.
    /// </summary>
    void Split(float[] fused, float[] query, float[] key, float[] value, int tokens, bool split)
    {
        int hidden = Config.HiddenSize, headDim = Config.HeadDim;
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < Config.HeadCount; h++)
            {
                var source = fused.AsSpan(t * 3 * hidden + h * 3 * headDim, 3 * headDim);
                int row = t * hidden + h * headDim;
                if (split)
                {
                    source[..headDim].CopyTo(query.AsSpan(row, headDim));
                    source.Slice(headDim, headDim).CopyTo(key.AsSpan(row, headDim));
                    source.Slice(2 * headDim, headDim).CopyTo(value.AsSpan(row, headDim));
                }
                else
                {
                    query.AsSpan(row, headDim).CopyTo(source[..headDim]);
                    key.AsSpan(row, headDim).CopyTo(source.Slice(headDim, headDim));
                    value.AsSpan(row, headDim).CopyTo(source.Slice(2 * headDim, headDim));
                }
            }
    }

    private protected override object ForwardBlocks(float[] x, TrainingBatch batch)
    {
        var c = Config;
        int n = batch.Tokens.Length, hidden = c.HiddenSize;
        var embedded = (float[])x.Clone();
        Normalization.LayerNorm(x, _model.EmbeddingNorm.Weight, _model.EmbeddingNorm.Bias, c.NormEpsilon, x);
        var saved = new Saved[_model.Blocks.Count];
        for (int l = 0; l < saved.Length; l++)
        {
            var b = _model.Blocks[l];
            var input = (float[])x.Clone();
            var normed = new float[n * hidden];
            Normalization.LayerNorm(x, b.AttentionNorm.Weight, b.AttentionNorm.Bias, c.NormEpsilon, normed);
            var fused = Linear(b.QueryKeyValue, normed, n);
            float[] query = new float[n * hidden], key = new float[n * hidden], value = new float[n * hidden];
            Split(fused, query, key, value, n, split: true);
            var probabilities = new float[batch.Sequences * c.HeadCount * batch.Length * batch.Length];
            var attention = new float[n * hidden];
            AttentionTraining.Forward(query, key, value, batch.Sequences, batch.Length, c.HeadCount, c.HeadCount, c.HeadDim,
                0, _model.AlibiSlopes, probabilities, attention);
            Activations.Add(x, Linear(b.AttentionOutput, attention, n), x);

            var middle = (float[])x.Clone();
            var mlpNormed = new float[n * hidden];
            Normalization.LayerNorm(x, b.MlpNorm.Weight, b.MlpNorm.Bias, c.NormEpsilon, mlpNormed);
            var up = Linear(b.Up, mlpNormed, n);
            var h = new float[up.Length];
            Activations.GeluTanh(up, h);
            Activations.Add(x, Linear(b.Down, h, n), x);
            saved[l] = new Saved(input, normed, query, key, value, probabilities, attention, middle, mlpNormed, up, h);
        }
        return new SavedBlocks(embedded, saved);
    }

    private protected override void BackwardBlocks(object state, float[] dx, TrainingBatch batch)
    {
        var c = Config;
        var (embedded, saved) = (SavedBlocks)state;
        int n = batch.Tokens.Length, hidden = c.HiddenSize, ffn = c.IntermediateSize;
        var dNormed = new float[n * hidden];
        var dHidden = new float[n * ffn];
        var dUp = new float[n * ffn];
        var dAttention = new float[n * hidden];
        float[] dQuery = new float[n * hidden], dKey = new float[n * hidden], dValue = new float[n * hidden];
        var dFused = new float[n * 3 * hidden];
        for (int l = saved.Length - 1; l >= 0; l--)
        {
            var b = _model.Blocks[l];
            var s = saved[l];
            LinearGradient(b.Down, s.Hidden, dx, dHidden, n);
            ActivationBackward.GeluTanh(s.Up, dHidden, dUp);
            LinearGradient(b.Up, s.MlpNormed, dUp, dNormed, n);
            LayerNormBackward(s.Middle, b.MlpNorm, dNormed, dx);

            LinearGradient(b.AttentionOutput, s.Attention, dx, dAttention, n);
            AttentionTraining.Backward(s.Query, s.Key, s.Value, s.Probabilities, dAttention, batch.Sequences, batch.Length,
                c.HeadCount, c.HeadCount, c.HeadDim, dQuery, dKey, dValue);
            Split(dFused, dQuery, dKey, dValue, n, split: false);
            LinearGradient(b.QueryKeyValue, s.Normed, dFused, dNormed, n);
            LayerNormBackward(s.Input, b.AttentionNorm, dNormed, dx);
        }
        // The embedding LayerNorm: dx holds the gradient at its output; the embedding's gradient is at its input.
        var dEmbedded = new float[dx.Length];
        LayerNormBackward(embedded, _model.EmbeddingNorm, dx, dEmbedded);
        dEmbedded.CopyTo(dx, 0);
    }
}
