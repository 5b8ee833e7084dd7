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
    readonly bool _own;
    readonly bool _asStored;
    readonly Dictionary<string, WeightTable> _tables = new(StringComparer.Ordinal);
    readonly HashSet<string> _attached = new(StringComparer.Ordinal);

    /// <param name="ownWeights">Every matrix as an owned float32 copy (training all weights updates them in place).</param>
    /// <param name="rowOrder">Whether the model may read re-ordered tensors as stored (see <see cref="KeepsStored"/>).</param>
    public WeightLoader(Checkpoint checkpoint, IReadOnlyDictionary<string, LowRankDelta>? deltas, bool merge, bool ownWeights = false,
        WeightRowOrder rowOrder = WeightRowOrder.HuggingFace)
    {
        if (ownWeights && deltas is { Count: > 0 }) throw new ArgumentException("owned (trainable) weights take no deltas", nameof(deltas));
        if (ownWeights && rowOrder != WeightRowOrder.HuggingFace) throw new ArgumentException("owned (trainable) weights are in Hugging Face order", nameof(rowOrder));
        _own = ownWeights;
        _asStored = rowOrder == WeightRowOrder.AsStored;
        _checkpoint = checkpoint;
        _deltas = deltas ?? new Dictionary<string, LowRankDelta>();
        _merge = merge;
    }

    /// <summary>A weight [rows, columns] kept where it is (an embedding table, or a tied output head).</summary>
    public WeightTable Matrix(string name, int rows, int columns)
    {
        if (_tables.TryGetValue(name, out var known)) return known;
        var tensor = Tensor(name, rows, columns);
        var table = _own
            ? WeightTable.Owned(name, Dequantized(tensor.Pointer, tensor.Type, rows, columns), rows, columns)
            : new WeightTable(name, tensor.Pointer, tensor.ByteSize, tensor.Type, rows, columns, null);
        _tables.Add(name, table);
        return table;
    }

    /// <summary>A pinned float32 copy of a [rows, columns] weight of any supported type.</summary>
    internal static float[] Dequantized(byte* weight, GgmlType type, int rows, int columns)
    {
        var values = GC.AllocateUninitializedArray<float>(checked(rows * columns), pinned: true);
        long rowBytes = GgmlTypeInfo.ByteSize(type, columns);
        for (int r = 0; r < rows; r++)
            Quants.Dequantize(type, new ReadOnlySpan<byte>(weight + r * rowBytes, (int)rowBytes), values.AsSpan(r * columns, columns));
        return values;
    }

    /// <summary>
    /// Whether the model may read the linear layers <paramref name="prefixes"/> (weights, and biases where present) as
    /// the checkpoint stores them, all in <paramref name="order"/>: only when the model was asked to keep stored
    /// orders and the checkpoint stores every one so. The model's forward pass must then account for the order.
    /// </summary>
    public bool KeepsStored(StoredRowOrder order, IEnumerable<string> prefixes) =>
        _asStored && prefixes.All(p => _checkpoint.Find(p + ".weight")?.StoredOrder == order
            && (_checkpoint.Find(p + ".bias")?.StoredOrder ?? order) == order);

    /// <summary>A one-dimensional weight (norm scale, bias) as float32; with <paramref name="asStored"/>, in the stored row order.</summary>
    public float[] Vector(string name, int length, bool asStored = false)
    {
        var tensor = Tensor(name, length);
        var values = new float[length];
        Quants.Dequantize(tensor.Type, asStored ? tensor.StoredData : tensor.Data, values);
        return values;
    }

    /// <summary>
    /// The linear layer whose weight is <c>{prefix}.weight</c> [outFeatures, inFeatures], with <c>{prefix}.bias</c> when
    /// asked for. With <paramref name="asStored"/> (after <see cref="KeepsStored"/> allowed it) the weight and bias
    /// keep the checkpoint's row order, read in place, and a delta (given in Hugging Face order) has its B rows moved
    /// to match.
    /// </summary>
    public LinearLayer Linear(string prefix, int inFeatures, int outFeatures, bool bias, bool asStored = false) =>
        Linear(Tensor(prefix + ".weight", outFeatures, inFeatures), bias ? Vector(prefix + ".bias", outFeatures, asStored) : null, asStored);

    /// <summary>
    /// An output head tied to the embedding table. It takes no deltas: one on the embedding's name would have to
    /// change the lookup too.
    /// </summary>
    public LinearLayer TiedHead(WeightTable embedding) =>
        new(embedding.Name, embedding.Pointer, embedding.ByteSize, embedding.Type, embedding.Columns, embedding.Rows, null, [], embedding.Values);

    LinearLayer Linear(CheckpointTensor weight, float[]? bias, bool asStored)
    {
        int outFeatures = (int)weight.Shape[0], inFeatures = (int)weight.Shape[1];
        var deltas = new List<LowRankDelta>();
        if (_deltas.TryGetValue(weight.Name, out var delta))
        {
            if (delta.In != inFeatures || delta.Out != outFeatures)
                throw new AgoraException($"adapter target '{weight.Name}': the delta maps {delta.In} → {delta.Out} features, " +
                    $"the model's layer {inFeatures} → {outFeatures}");
            _attached.Add(weight.Name);
            deltas.Add(asStored && weight.StoredRows is { } rows ? delta.WithRowsMoved(rows) : delta);
        }
        byte* bytes = asStored ? weight.StoredPointer : weight.Pointer;
        return (_merge && deltas.Count > 0) || _own
            ? LinearLayer.Merged(weight.Name, bytes, weight.Type, inFeatures, outFeatures, bias, deltas)
            : new LinearLayer(weight.Name, bytes, weight.ByteSize, weight.Type, inFeatures, outFeatures, bias, [.. deltas]);
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

/// <summary>
/// A weight matrix [Rows, Columns] read where it lies: in the checkpoint's memory map, or, for training all weights,
/// an owned pinned float32 copy (<see cref="Values"/>) that the optimizer updates in place.
/// </summary>
sealed unsafe class WeightTable(string name, byte* pointer, long byteSize, GgmlType type, int rows, int columns, float[]? values)
{
    public string Name { get; } = name;
    public byte* Pointer { get; } = pointer;
    public long ByteSize { get; } = byteSize;
    public GgmlType Type { get; } = type;
    public int Rows { get; } = rows;
    public int Columns { get; } = columns;
    public float[]? Values { get; } = values;

    public static WeightTable Owned(string name, float[] pinned, int rows, int columns) =>
        new(name, (byte*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(pinned)),
            (long)pinned.Length * sizeof(float), GgmlType.F32, rows, columns, pinned);
}
