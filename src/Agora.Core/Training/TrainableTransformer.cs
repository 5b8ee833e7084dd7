using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Models;

namespace Agora.Training;

/// <summary>
/// A model being trained: the inference model's blocks and weights, a forward pass over a batch that keeps the
/// activations its backward needs, and that backward pass (llm.c style, one per block kind) filling the
/// gradients of the <see cref="Parameters"/>. With LoRA the base stays frozen in whatever type it was stored and
/// only the adapter's A and B matrices train (in place: the adapter holds the trained values).
/// </summary>
public abstract class TrainableTransformer
{
    readonly Dictionary<LinearLayer, LinearBackward> _linear = [];
    readonly List<TrainableParameter> _parameters = [];
    // Norm scales and biases, by array identity: the blocks hand the arrays they use, training finds their gradients.
    readonly Dictionary<float[], TrainableParameter> _vectors = new(ReferenceEqualityComparer.Instance);
    readonly TrainableParameter? _embedding;

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
        int n = batch.Tokens.Length, hidden = Config.HiddenSize, vocab = Config.VocabSize;
        var x = new float[n * hidden];
        Model.Embed(batch.Tokens, x);
        var saved = ForwardBlocks(x, batch);
        var normed = new float[n * hidden];
        FinalNorm(x, normed);
        var logits = Linear(Head, normed, n);
        double loss = CrossEntropy.LossAndGradient(logits, batch, vocab, gradientScale);
        if (!backward) return loss;
        var dNormed = new float[n * hidden];
        LinearGradient(Head, normed, logits, dNormed, n);
        var dx = new float[n * hidden];
        FinalNormBackward(x, dNormed, dx);
        BackwardBlocks(saved, dx, batch);
        if (_embedding != null)
            for (int t = 0; t < n; t++)
            {
                var row = _embedding.Gradient.AsSpan(batch.Tokens[t] * hidden, hidden);
                System.Numerics.Tensors.TensorPrimitives.Add(row, dx.AsSpan(t * hidden, hidden), row);
            }
        return loss;
    }

    private protected abstract LinearLayer Head { get; }
    private protected abstract void FinalNorm(float[] x, float[] normed);
    private protected abstract void FinalNormBackward(float[] x, float[] dNormed, float[] dx);
    /// <summary>Runs the blocks over the embedded batch in place, returning what the backward needs.</summary>
    private protected abstract object ForwardBlocks(float[] x, TrainingBatch batch);
    /// <summary>From the gradient at the blocks' output, leaves in <paramref name="dx"/> the gradient at their input.</summary>
    private protected abstract void BackwardBlocks(object saved, float[] dx, TrainingBatch batch);

    /// <summary>y = layer(x) for <paramref name="tokens"/> rows, through the inference code.</summary>
    private protected static float[] Linear(LinearLayer layer, float[] x, int tokens)
    {
        var y = new float[tokens * layer.Out];
        layer.Forward(x, y, tokens, new float[tokens * layer.MaxRank], layer.MaxRank > 0 ? new float[tokens * layer.Out] : []);
        return y;
    }

    /// <summary>Writes dx for the layer's input x and output gradient dy, accumulating its trained gradients.</summary>
    private protected void LinearGradient(LinearLayer layer, float[] x, float[] dy, float[] dx, int tokens) =>
        _linear[layer].Backward(x, dy, dx, tokens);
}
