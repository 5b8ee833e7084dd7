using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Models;
using Agora.Tensors;

namespace Agora.Training;

/// <summary>
/// A model being trained: the inference model's blocks and weights, a forward pass over a batch that keeps the
/// activations its backward needs, and that backward pass (llm.c style, one per block kind) filling the
/// gradients of the <see cref="Parameters"/>. With LoRA the base stays frozen in whatever type it was stored and
/// only the adapter's A and B matrices train (in place: the adapter holds the trained values). Passes work in a
/// <see cref="TrainingWorkspace"/> kept across steps (grown to the largest batch seen), so they run one at a time.
/// </summary>
public abstract class TrainableTransformer
{
    readonly Dictionary<LinearLayer, LinearBackward> _linear = [];
    readonly List<TrainableParameter> _parameters = [];
    // Norm scales and biases, by array identity: the blocks hand the arrays they use, training finds their gradients.
    readonly Dictionary<float[], TrainableParameter> _vectors = new(ReferenceEqualityComparer.Instance);
    readonly TrainableParameter? _embedding;
    // The largest rank of the layers' low-rank deltas (their scratch per token).
    readonly int _maxRank;
    TrainingWorkspace? _workspace;

    /// <summary>Scored rows per pass through the output head: bounds the logits buffer at HeadRows × vocabulary.</summary>
    internal const int HeadRows = 128;

    public TransformerModel Model { get; }
    public LoraAdapter? Adapter { get; }
    /// <summary>Every trained tensor, in model order (for LoRA: A then B of each adapted layer).</summary>
    public IReadOnlyList<TrainableParameter> Parameters => _parameters;
    public ModelConfig Config => Model.Config;

    /// <param name="norms">The model's norm scales and biases under their Hugging Face names (trained with all weights).</param>
    private protected TrainableTransformer(TransformerModel model, LoraAdapter? adapter, IEnumerable<(string Name, float[] Values)> norms)
    {
        Model = model;
        Adapter = adapter;
        bool all = model.OwnedEmbedding != null;
        if (all)
        {
            _embedding = Add(model.EmbeddingName, model.OwnedEmbedding!, model.VocabSize, model.Config.HiddenSize);
            foreach (var (name, values) in norms) _vectors.Add(values, Add(name, values, values.Length));
        }
        foreach (var layer in model.LinearLayers)
        {
            TrainableParameter? a = null, b = null, weight = null, bias = null;
            if (all)
            {
                var owned = layer.OwnedWeight ?? throw new InvalidOperationException($"{layer.Name} is not an owned float32 weight");
                weight = ReferenceEquals(owned, _embedding!.Value) ? _embedding : Add(layer.Name, owned, layer.Out, layer.In);
                if (layer.Bias is { } values) bias = Add(layer.Name[..^".weight".Length] + ".bias", values, values.Length);
            }
            if (adapter?.Find(layer.Name) is { } lora)
            {
                if (layer.Deltas.Count != 1 || !ReferenceEquals(layer.Deltas[0].A, lora.A))
                    throw new InvalidOperationException($"{layer.Name}: the model does not run the adapter's own matrices");
                a = new TrainableParameter(lora.Module + ".lora_A.weight", lora.A, lora.Rank, lora.In);
                b = new TrainableParameter(lora.Module + ".lora_B.weight", lora.B, lora.Out, lora.Rank);
                _parameters.Add(a);
                _parameters.Add(b);
            }
            _linear[layer] = new LinearBackward(layer, a, b, weight, bias);
            _maxRank = Math.Max(_maxRank, layer.MaxRank);
        }
    }

    TrainableParameter Add(string name, float[] values, params int[] shape)
    {
        var p = new TrainableParameter(name, values, shape);
        _parameters.Add(p);
        return p;
    }

    /// <summary>
    /// Trains every weight of <paramref name="checkpoint"/>'s model (full fine-tuning), each held as an owned float32
    /// copy whatever its stored type; the checkpoint may be closed once this returns.
    /// </summary>
    public static TrainableTransformer ForAllWeights(Checkpoint checkpoint) => Create(TransformerModel.LoadOwned(checkpoint), null);

    static TrainableTransformer Create(TransformerModel model, LoraAdapter? adapter) => model switch
    {
        LlamaModel llama => new LlamaTraining(llama, adapter),
        BloomModel bloom => new BloomTraining(bloom, adapter),
        _ => throw new AgoraException($"training {model.Config.Architecture} models is not supported"),
    };

    /// <summary>The gradient of a norm scale or bias the model uses, or an empty span when it is not trained.</summary>
    private protected Span<float> GradientOf(float[] values) =>
        _vectors.TryGetValue(values, out var p) ? p.Gradient : default;

    /// <summary>
    /// Trains <paramref name="adapter"/> (updated in place) over the frozen model of <paramref name="checkpoint"/>,
    /// which must stay open while training runs.
    /// </summary>
    public static TrainableTransformer ForLora(Checkpoint checkpoint, LoraAdapter adapter)
    {
        adapter.Validate(checkpoint);
        return Create(TransformerModel.Load(checkpoint, adapter.ToDeltas()), adapter);
    }

    /// <summary>
    /// Gradient checkpointing: the forward keeps only each block's input, and the backward recomputes a block's
    /// activations just before going back through it, so activation memory is one block's instead of every block's,
    /// for about one more forward pass through the blocks. Losses and gradients are bit-identical either way. A change
    /// takes effect at the next pass (which sizes a new workspace).
    /// </summary>
    public bool GradientCheckpointing { get; set; }

    /// <summary>The mean cross-entropy of the batch's scored labels (forward only).</summary>
    public double Loss(TrainingBatch batch)
    {
        batch.Validate(Config.VocabSize);
        if (batch.ScoredCount == 0) throw new AgoraException("the batch scores no label (every label is -100)");
        return Run(batch, backward: false, 1f) / batch.ScoredCount;
    }

    /// <summary>
    /// Forward and backward over one (micro-)batch: adds to every parameter's gradient the gradient of
    /// Σ token losses / <paramref name="scoredTotal"/> (the scored labels of the whole optimizer step, so gradient
    /// accumulation averages over all of them). Returns the summed token loss of this batch.
    /// </summary>
    public double AccumulateGradients(TrainingBatch batch, int scoredTotal)
    {
        batch.Validate(Config.VocabSize);
        if (scoredTotal <= 0) throw new ArgumentOutOfRangeException(nameof(scoredTotal), "the step must score at least one label");
        return Run(batch, backward: true, 1f / scoredTotal);
    }

    public void ZeroGradients()
    {
        foreach (var p in _parameters) Array.Clear(p.Gradient);
    }

    double Run(TrainingBatch batch, bool backward, float gradientScale)
    {
        int n = batch.Tokens.Length, hidden = Config.HiddenSize, vocab = Config.VocabSize, layers = Config.LayerCount;
        var w = Reserve(batch);
        var x = w.Hidden.AsSpan(0, n * hidden);
        Model.Embed(batch.Tokens, x);
        NormalizeEmbeddings(x, batch);
        for (int l = 0; l < layers; l++)
        {
            var input = w.BlockInputs[l].AsSpan(0, n * hidden);
            x.CopyTo(input);
            ForwardBlock(l, input, x, batch);
        }

        // The head runs only over the positions whose next label is scored, HeadRows at a time (the logits are the
        // largest activation: rows × vocabulary).
        int m = GatherScored(batch, w);
        if (m == 0) return 0;
        var headInput = w.HeadInput.AsSpan(0, m * hidden);
        for (int i = 0; i < m; i++) x.Slice(w.ScoredRows[i] * hidden, hidden).CopyTo(headInput.Slice(i * hidden, hidden));
        var normed = w.HeadNormed.AsSpan(0, m * hidden);
        FinalNorm(headInput, normed);
        var dNormed = w.HeadNormedGradient.AsSpan(0, m * hidden);
        double loss = 0;
        for (int first = 0; first < m; first += HeadRows)
        {
            int rows = Math.Min(HeadRows, m - first);
            var logits = w.Logits.AsSpan(0, rows * vocab);
            var rowsNormed = normed.Slice(first * hidden, rows * hidden);
            Linear(Head, rowsNormed, logits, rows);
            loss += CrossEntropy.LossAndGradient(logits, w.ScoredLabels.AsSpan(first, rows), vocab, gradientScale, w.RowLosses);
            if (backward) LinearGradient(Head, rowsNormed, logits, dNormed.Slice(first * hidden, rows * hidden), rows);
        }
        if (!backward) return loss;

        var dHeadInput = w.HeadInputGradient.AsSpan(0, m * hidden);
        dHeadInput.Clear();
        FinalNormBackward(headInput, dNormed, dHeadInput);
        var dx = w.Gradient.AsSpan(0, n * hidden);
        dx.Clear();
        for (int i = 0; i < m; i++) dHeadInput.Slice(i * hidden, hidden).CopyTo(dx.Slice(w.ScoredRows[i] * hidden, hidden));
        for (int l = layers - 1; l >= 0; l--)
        {
            // A checkpointed block's activations are recomputed from its input (the last block's are still there).
            if (w.Checkpointing && l < layers - 1) ForwardBlock(l, w.BlockInputs[l].AsSpan(0, n * hidden), w.Recomputed.AsSpan(0, n * hidden), batch);
            BackwardBlock(l, dx, batch);
        }
        NormalizeEmbeddingsBackward(dx, batch);
        if (_embedding != null)
            for (int t = 0; t < n; t++)
            {
                var row = _embedding.Gradient.AsSpan(batch.Tokens[t] * hidden, hidden);
                System.Numerics.Tensors.TensorPrimitives.Add(row, dx.Slice(t * hidden, hidden), row);
            }
        return loss;
    }

    /// <summary>Lists the rows whose logits are scored (the next label in the sequence is not ignored) and their labels; returns how many.</summary>
    static int GatherScored(TrainingBatch batch, TrainingWorkspace w)
    {
        int m = 0;
        for (int row = 0; row < batch.Tokens.Length; row++)
        {
            if (row % batch.Length == batch.Length - 1 || batch.Labels[row + 1] == TrainingBatch.Ignored) continue;
            w.ScoredRows[m] = row;
            w.ScoredLabels[m++] = batch.Labels[row + 1];
        }
        return m;
    }

    /// <summary>The workspace for <paramref name="batch"/>: the current one when it is large enough, else one grown to fit.</summary>
    TrainingWorkspace Reserve(TrainingBatch batch)
    {
        long weights = (long)batch.Sequences * Config.HeadCount * batch.Length * batch.Length;
        if (weights > Array.MaxLength)
            throw new AgoraException($"{batch.Sequences} sequences of {batch.Length} tokens need {weights:N0} attention weights per layer, more than an array holds; use shorter or fewer sequences");
        var current = _workspace;
        if (current != null && current.Tokens >= batch.Tokens.Length && current.AttentionWeights >= weights && current.Checkpointing == GradientCheckpointing)
            return current;
        int tokens = Math.Max(batch.Tokens.Length, current?.Tokens ?? 0);
        int attention = (int)Math.Max(weights, current?.AttentionWeights ?? 0);
        _workspace = null; // the old buffers can go before the new ones are allocated
        AllocateBlocks(0, 0, false);
        _workspace = new TrainingWorkspace(tokens, attention, GradientCheckpointing, Config.HiddenSize, Config.VocabSize, Config.LayerCount,
            _maxRank);
        AllocateBlocks(tokens, attention, GradientCheckpointing);
        return _workspace;
    }

    private protected TrainingWorkspace Workspace => _workspace ?? throw new InvalidOperationException("no pass is running");

    private protected abstract LinearLayer Head { get; }
    private protected abstract void FinalNorm(ReadOnlySpan<float> x, Span<float> normed);
    /// <summary>Adds to <paramref name="dx"/> the final norm's input gradient.</summary>
    private protected abstract void FinalNormBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dNormed, Span<float> dx);
    /// <summary>
    /// Sizes the architecture's saved activations and gradient buffers for up to <paramref name="tokens"/> tokens and
    /// <paramref name="attentionWeights"/> attention weights: one set of activations per block, or, when
    /// <paramref name="checkpointing"/>, one set all blocks share. Zero sizes release them.
    /// </summary>
    private protected abstract void AllocateBlocks(int tokens, int attentionWeights, bool checkpointing);
    /// <summary>What runs between the embedding and the first block (BLOOM's embedding LayerNorm), in place.</summary>
    private protected virtual void NormalizeEmbeddings(Span<float> x, TrainingBatch batch) { }
    private protected virtual void NormalizeEmbeddingsBackward(Span<float> dx, TrainingBatch batch) { }
    /// <summary>Runs block <paramref name="layer"/> from <paramref name="input"/> into <paramref name="output"/>, keeping its activations.</summary>
    private protected abstract void ForwardBlock(int layer, ReadOnlySpan<float> input, Span<float> output, TrainingBatch batch);
    /// <summary>From the gradient at block <paramref name="layer"/>'s output, leaves in <paramref name="dx"/> the gradient at its input.</summary>
    private protected abstract void BackwardBlock(int layer, Span<float> dx, TrainingBatch batch);

    /// <summary>
    /// y = x·Wᵀ + b + Σ scale·(x·Aᵀ)·Bᵀ for <paramref name="tokens"/> rows: <see cref="LinearLayer.Forward"/>'s
    /// arithmetic on training's tiled products, which serve many tokens better than inference's.
    /// </summary>
    private protected unsafe void Linear(LinearLayer layer, ReadOnlySpan<float> x, Span<float> y, int tokens)
    {
        x = x[..(tokens * layer.In)];
        y = y[..(tokens * layer.Out)];
        y.Clear();
        TrainingProducts.MultiplyTransposedAdd(x, layer.WeightPointer, layer.WeightType, y, tokens, layer.In, layer.Out, 1f);
        if (layer.Bias is { } bias)
            for (int t = 0; t < tokens; t++) System.Numerics.Tensors.TensorPrimitives.Add(y.Slice(t * layer.Out, layer.Out), bias, y.Slice(t * layer.Out, layer.Out));
        for (int i = 0; i < layer.Deltas.Count; i++)
        {
            var d = layer.Deltas[i];
            var u = Workspace.LoraScratch.AsSpan(0, tokens * d.Rank);
            u.Clear();
            fixed (float* a = d.A) fixed (float* b = d.B)
            {
                TrainingProducts.MultiplyTransposedAdd(x, (byte*)a, GgmlType.F32, u, tokens, layer.In, d.Rank, 1f);
                TrainingProducts.MultiplyTransposedAdd(u, (byte*)b, GgmlType.F32, y, tokens, d.Rank, layer.Out, d.Scale);
            }
        }
    }

    /// <summary>Writes dx for the layer's input x and output gradient dy, accumulating its trained gradients.</summary>
    private protected void LinearGradient(LinearLayer layer, ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, int tokens) =>
        _linear[layer].Backward(x, dy, dx, tokens, Workspace.LoraScratch);
}
