using Agora.Adapters;
using Agora.Models;
using Agora.Tensors.Kernels;

namespace Agora.Training;

/// <summary>Forward with saved activations and backward for <see cref="BloomModel"/>.</summary>
sealed class BloomTraining : TrainableTransformer
{
    readonly BloomModel _model;
    // One set of saved activations per block, or one shared by all when checkpointing; the backward's buffers; the
    // embedding LayerNorm's input; the fused projection's output (split at once, so one buffer serves every block).
    Saved[] _saved = [];
    Gradients? _gradients;
    float[] _embedded = [], _fused = [];

    sealed class Saved(int tokens, int attentionWeights, int hidden, int ffn)
    {
        public readonly float[] Normed = TrainingWorkspace.Rows(tokens, hidden), Query = TrainingWorkspace.Rows(tokens, hidden),
            Key = TrainingWorkspace.Rows(tokens, hidden), Value = TrainingWorkspace.Rows(tokens, hidden), Probabilities = new float[attentionWeights],
            Attention = TrainingWorkspace.Rows(tokens, hidden), Middle = TrainingWorkspace.Rows(tokens, hidden),
            MlpNormed = TrainingWorkspace.Rows(tokens, hidden), Up = TrainingWorkspace.Rows(tokens, ffn), Hidden = TrainingWorkspace.Rows(tokens, ffn);
    }

    sealed class Gradients(int tokens, int attentionWeights, int hidden, int ffn)
    {
        public readonly float[] Normed = TrainingWorkspace.Rows(tokens, hidden), Hidden = TrainingWorkspace.Rows(tokens, ffn),
            Up = TrainingWorkspace.Rows(tokens, ffn), Attention = TrainingWorkspace.Rows(tokens, hidden), Query = TrainingWorkspace.Rows(tokens, hidden),
            Key = TrainingWorkspace.Rows(tokens, hidden), Value = TrainingWorkspace.Rows(tokens, hidden), Fused = TrainingWorkspace.Rows(tokens, 3L * hidden),
            Scores = new float[attentionWeights];
    }

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

    /// <summary>LayerNorm's backward (adding to dx), accumulating the scale and bias gradients when they are trained.</summary>
    void LayerNormBackward(ReadOnlySpan<float> x, BloomModel.Norm norm, ReadOnlySpan<float> dy, Span<float> dx) =>
        NormBackward.LayerNorm(x, norm.Weight, Config.NormEpsilon, dy, dx, GradientOf(norm.Weight), GradientOf(norm.Bias));

    private protected override LinearLayer Head => _model.OutputHead;

    private protected override void FinalNorm(ReadOnlySpan<float> x, Span<float> normed) =>
        Normalization.LayerNorm(x, _model.FinalLayerNorm.Weight, _model.FinalLayerNorm.Bias, Config.NormEpsilon, normed);

    private protected override void FinalNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dNormed, Span<float> dx) =>
        LayerNormBackward(x, _model.FinalLayerNorm, dNormed, dx);

    private protected override void AllocateBlocks(int tokens, int attentionWeights, bool checkpointing)
    {
        var c = Config;
        _saved = [];
        _gradients = null;
        _embedded = _fused = [];
        if (tokens == 0) return;
        _saved = [.. Enumerable.Range(0, checkpointing ? 1 : c.LayerCount).Select(_ => new Saved(tokens, attentionWeights, c.HiddenSize, c.IntermediateSize))];
        _gradients = new Gradients(tokens, attentionWeights, c.HiddenSize, c.IntermediateSize);
        _embedded = TrainingWorkspace.Rows(tokens, c.HiddenSize);
        _fused = TrainingWorkspace.Rows(tokens, 3L * c.HiddenSize);
    }

    Saved SavedOf(int layer) => _saved[_saved.Length == 1 ? 0 : layer];

    private protected override void NormalizeEmbeddings(Span<float> x, TrainingBatch batch)
    {
        x.CopyTo(_embedded);
        Normalization.LayerNorm(x, _model.EmbeddingNorm.Weight, _model.EmbeddingNorm.Bias, Config.NormEpsilon, x);
    }

    private protected override void NormalizeEmbeddingsBackward(Span<float> dx, TrainingBatch batch)
    {
        // dx holds the gradient at the LayerNorm's output; the embedding's gradient is at its input.
        var dEmbedded = _gradients!.Normed.AsSpan(0, dx.Length);
        dEmbedded.Clear();
        LayerNormBackward(_embedded.AsSpan(0, dx.Length), _model.EmbeddingNorm, dx, dEmbedded);
        dEmbedded.CopyTo(dx);
    }

    /// <summary>
    /// The fused projection's rows are grouped per head as [query, key, value]; <paramref name="split"/> moves them
    /// into (or, false, back out of) separate query, key and value rows.
    /// </summary>
    void Split(Span<float> fused, Span<float> query, Span<float> key, Span<float> value, int tokens, bool split)
    {
        int hidden = Config.HiddenSize, headDim = Config.HeadDim;
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < Config.HeadCount; h++)
            {
                var source = fused.Slice(t * 3 * hidden + h * 3 * headDim, 3 * headDim);
                int row = t * hidden + h * headDim;
                if (split)
                {
                    source[..headDim].CopyTo(query.Slice(row, headDim));
                    source.Slice(headDim, headDim).CopyTo(key.Slice(row, headDim));
                    source.Slice(2 * headDim, headDim).CopyTo(value.Slice(row, headDim));
                }
                else
                {
                    query.Slice(row, headDim).CopyTo(source[..headDim]);
                    key.Slice(row, headDim).CopyTo(source.Slice(headDim, headDim));
                    value.Slice(row, headDim).CopyTo(source.Slice(2 * headDim, headDim));
                }
            }
    }

    int AttentionWeights(TrainingBatch batch) => batch.Sequences * Config.HeadCount * batch.Length * batch.Length;

    private protected override void ForwardBlock(int layer, ReadOnlySpan<float> input, Span<float> output, TrainingBatch batch)
    {
        var c = Config;
        var b = _model.Blocks[layer];
        var s = SavedOf(layer);
        int n = batch.Tokens.Length, hidden = c.HiddenSize, ffn = c.IntermediateSize;
        var normed = s.Normed.AsSpan(0, n * hidden);
        var attention = s.Attention.AsSpan(0, n * hidden);
        var middle = s.Middle.AsSpan(0, n * hidden);
        var mlpNormed = s.MlpNormed.AsSpan(0, n * hidden);
        var up = s.Up.AsSpan(0, n * ffn);
        var hiddenActivation = s.Hidden.AsSpan(0, n * ffn);

        Normalization.LayerNorm(input, b.AttentionNorm.Weight, b.AttentionNorm.Bias, c.NormEpsilon, normed);
        Linear(b.QueryKeyValue, normed, _fused, n);
        Split(_fused, s.Query, s.Key, s.Value, n, split: true);
        AttentionTraining.Forward(s.Query.AsSpan(0, n * hidden), s.Key.AsSpan(0, n * hidden), s.Value.AsSpan(0, n * hidden), batch.Sequences,
            batch.Length, c.HeadCount, c.HeadCount, c.HeadDim, 0, _model.AlibiSlopes, batch.Positions, s.Probabilities.AsSpan(0, AttentionWeights(batch)),
            attention);
        Linear(b.AttentionOutput, attention, output, n);
        Activations.Add(input, output, middle);

        Normalization.LayerNorm(middle, b.MlpNorm.Weight, b.MlpNorm.Bias, c.NormEpsilon, mlpNormed);
        Linear(b.Up, mlpNormed, up, n);
        Activations.GeluTanh(up, hiddenActivation);
        Linear(b.Down, hiddenActivation, output, n);
        Activations.Add(middle, output, output);
    }

    private protected override void BackwardBlock(int layer, Span<float> dx, TrainingBatch batch)
    {
        var c = Config;
        var b = _model.Blocks[layer];
        var s = SavedOf(layer);
        var g = _gradients!;
        int n = batch.Tokens.Length, hidden = c.HiddenSize, ffn = c.IntermediateSize;
        var dNormed = g.Normed.AsSpan(0, n * hidden);

        LinearGradient(b.Down, s.Hidden, dx, g.Hidden, n);
        ActivationBackward.GeluTanh(s.Up.AsSpan(0, n * ffn), g.Hidden, g.Up);
        LinearGradient(b.Up, s.MlpNormed, g.Up, dNormed, n);
        LayerNormBackward(s.Middle.AsSpan(0, n * hidden), b.MlpNorm, dNormed, dx);

        LinearGradient(b.AttentionOutput, s.Attention, dx, g.Attention, n);
        AttentionTraining.Backward(s.Query.AsSpan(0, n * hidden), s.Key.AsSpan(0, n * hidden), s.Value.AsSpan(0, n * hidden),
            s.Probabilities.AsSpan(0, AttentionWeights(batch)), g.Attention.AsSpan(0, n * hidden), batch.Sequences, batch.Length,
            c.HeadCount, c.HeadCount, c.HeadDim, 0, batch.Positions, g.Scores, g.Query, g.Key, g.Value);
        Split(g.Fused, g.Query, g.Key, g.Value, n, split: false);
        LinearGradient(b.QueryKeyValue, s.Normed, g.Fused, dNormed, n);
        LayerNormBackward(Workspace.BlockInputs[layer].AsSpan(0, n * hidden), b.AttentionNorm, dNormed, dx);
    }
}
