using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Models;

/// <summary>
/// Reads a model's weights out of a checkpoint while it is being built: each tensor is checked against the shape the
/// config implies (one <see cref="AgoraFormatException"/> naming the checkpoint and tensor otherwise), and low-rank
/// deltas are attached to (or merged into) the linear layers they name. <see cref="Finish"/> refuses deltas that
/// named no linear layer.
/// </summary>
sealed unsafe class WeightLoader
{
    /// <summary>The element types a model's weights may have.</summary>
    static readonly GgmlType[] SupportedTypes = [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1,
        GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    readonly Checkpoint _checkpoint;
    readonly IReadOnlyDictionary<string, LowRankDelta> _deltas;
    readonly bool _merge;
    readonly HashSet<string> _attached = new(StringComparer.Ordinal);

    public WeightLoader(Checkpoint checkpoint, IReadOnlyDictionary<string, LowRankDelta>? deltas, bool merge)
    {
        _checkpoint = checkpoint;
        _deltas = deltas ?? new Dictionary<string, LowRankDelta>();
        _merge = merge;
    }

    /// <summary>A weight [rows, columns] kept where it is (an embedding table, or a tied output head).</summary>
    public CheckpointTensor Matrix(string name, int rows, int columns) => Tensor(name, rows, columns);

    /// <summary>A one-dimensional weight (norm scale, bias) as float32.</summary>
    public float[] Vector(string name, int length)
    {
        var tensor = Tensor(name, length);
        var values = new float[length];
        Quants.Dequantize(tensor.Type, tensor.Data, values);
        return values;
    }

    /// <summary>The linear layer whose weight is <c>{prefix}.weight</c> [outFeatures, inFeatures], with <c>{prefix}.bias</c> when asked for.</summary>
    public LinearLayer Linear(string prefix, int inFeatures, int outFeatures, bool bias) =>
        Linear(Tensor(prefix + ".weight", outFeatures, inFeatures), bias ? Vector(prefix + ".bias", outFeatures) : null);

    /// <summary>
    /// An output head tied to the embedding table. It takes no deltas: one on the embedding's name would have to
    /// change the lookup too.
    /// </summary>
    public LinearLayer TiedHead(CheckpointTensor embedding) =>
        new(embedding.Name, embedding.Pointer, embedding.ByteSize, embedding.Type, (int)embedding.Shape[1], (int)embedding.Shape[0], null, []);

    LinearLayer Linear(CheckpointTensor weight, float[]? bias)
    {
        int outFeatures = (int)weight.Shape[0], inFeatures = (int)weight.Shape[1];
        var deltas = new List<LowRankDelta>();
        if (_deltas.TryGetValue(weight.Name, out var delta))
        {
            if (delta.In != inFeatures || delta.Out != outFeatures)
                throw new AgoraException($"adapter target '{weight.Name}': the delta maps {delta.In} → {delta.Out} features, " +
                    $"the model's layer {inFeatures} → {outFeatures}");
            _attached.Add(weight.Name);
            deltas.Add(delta);
        }
        return _merge && deltas.Count > 0
            ? LinearLayer.Merged(weight.Name, weight.Pointer, weight.Type, inFeatures, outFeatures, bias, deltas)
            : new LinearLayer(weight.Name, weight.Pointer, weight.ByteSize, weight.Type, inFeatures, outFeatures, bias, [.. deltas]);
    }

    /// <summary>Refuses deltas whose target is not a linear layer of the model just built.</summary>
    public void Finish()
    {
        foreach (var name in _deltas.Keys)
            if (!_attached.Contains(name))
                throw new AgoraException(_checkpoint.Find(name) == null
                    ? $"adapter target '{name}' is not a weight of the model {_checkpoint.Path}"
                    : $"adapter target '{name}' is not a linear layer of the model {_checkpoint.Path}");
    }

    CheckpointTensor Tensor(string name, params int[] shape)
    {
        var tensor = _checkpoint.Get(name);
        if (!tensor.Shape.SequenceEqual(shape.Select(d => (long)d)))
            throw new AgoraFormatException(_checkpoint.Path,
                $"tensor '{name}' has shape [{string.Join(", ", tensor.Shape)}], the config implies [{string.Join(", ", shape)}]");
        if (!SupportedTypes.Contains(tensor.Type))
            throw new AgoraException($"{_checkpoint.Path}: tensor '{name}' is {tensor.Type}; supported weight types are {string.Join(", ", SupportedTypes)}");
        return tensor;
    }
}
