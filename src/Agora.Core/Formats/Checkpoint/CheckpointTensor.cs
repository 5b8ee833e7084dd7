using System.Runtime.InteropServices;
using Agora.Tensors;

namespace Agora.Formats.Checkpoint;

/// <summary>
/// One weight of a checkpoint under its Hugging Face name, shaped in PyTorch order ([out, in] for a linear
/// weight: the last dimension is the contiguous row), with its bytes in the file's element type.
/// </summary>
public sealed unsafe class CheckpointTensor
{
    readonly Func<nint> _source;
    readonly Lazy<int[]>? _storedRows;
    readonly Lock _gate = new();
    byte* _reordered;
    bool _released;

    /// <summary>The Hugging Face name (<c>model.layers.0.self_attn.q_proj.weight</c>).</summary>
    public string Name { get; }
    /// <summary>The name inside the file (the GGUF name for GGUF checkpoints).</summary>
    public string SourceName { get; }
    public GgmlType Type { get; }
    /// <summary>Dimensions in PyTorch order: <c>Shape[^1]</c> is the row length.</summary>
    public long[] Shape { get; }
    public long ElementCount { get; }
    public long ByteSize { get; }
    /// <summary>How the file orders the rows; <see cref="Pointer"/> presents them in Hugging Face order whatever this is.</summary>
    public StoredRowOrder StoredOrder { get; }
    /// <summary>
    /// True when the file stores the rows in another order (llama.cpp's Q/K and fused-QKV layouts) and this
    /// tensor presents them in Hugging Face order: the bytes behind <see cref="Pointer"/> then live in a copy made on
    /// first access (<see cref="StoredPointer"/> reads them in place).
    /// </summary>
    public bool IsReordered => StoredOrder != StoredRowOrder.HuggingFace;
    /// <summary>Whether <see cref="Pointer"/> has made its re-ordered copy.</summary>
    internal bool HasCopy => _reordered != null;

    internal CheckpointTensor(string name, string sourceName, GgmlType type, long[] shape, long elementCount, long byteSize,
        Func<nint> source, StoredRowOrder storedOrder = StoredRowOrder.HuggingFace, Func<int[]>? storedRows = null)
    {
        if ((storedOrder == StoredRowOrder.HuggingFace) != (storedRows == null))
            throw new ArgumentException("a stored row order other than Hugging Face's needs its row map, and only it", nameof(storedRows));
        Name = name;
        SourceName = sourceName;
        Type = type;
        Shape = shape;
        ElementCount = elementCount;
        ByteSize = byteSize;
        _source = source;
        StoredOrder = storedOrder;
        _storedRows = storedRows == null ? null : new Lazy<int[]>(storedRows);
    }

    /// <summary>
    /// For each Hugging Face row, the stored row holding it (rows are the outermost dimension; a vector's rows are its
    /// elements); null when the file keeps Hugging Face order. Models and writers follow the stored order with it. A
    /// format error when the config's head counts do not split the rows.
    /// </summary>
    public int[]? StoredRows => _storedRows?.Value;

    /// <summary>Pointer to the first byte, in Hugging Face row order; valid until the checkpoint is disposed.</summary>
    public byte* Pointer
    {
        get
        {
            if (_storedRows == null) return (byte*)_source();
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_released, this);
                if (_reordered == null) _reordered = Reorder();
                return _reordered;
            }
        }
    }

    /// <summary>The bytes as the file stores them, rows in <see cref="StoredOrder"/>: in place, never copied.</summary>
    public byte* StoredPointer => (byte*)_source();

    /// <summary>The bytes as a span, in Hugging Face row order (tensors under 2 GiB; use <see cref="Pointer"/> beyond).</summary>
    public ReadOnlySpan<byte> Data => Span(Pointer);

    /// <summary>The bytes as a span, in <see cref="StoredOrder"/>.</summary>
    public ReadOnlySpan<byte> StoredData => Span(StoredPointer);

    ReadOnlySpan<byte> Span(byte* pointer) =>
        ByteSize <= int.MaxValue
            ? new ReadOnlySpan<byte>(pointer, (int)ByteSize)
            : throw new AgoraException($"tensor '{Name}' has {ByteSize} bytes, too many for a span; read it through Pointer");

    /// <summary>
    /// Moves whole rows (the outermost dimension), which works on quantized rows too: a row of blocks is moved
    /// as it is, never dequantised.
    /// </summary>
    byte* Reorder()
    {
        var order = StoredRows!;
        long rowBytes = ByteSize / order.Length;
        var source = (byte*)_source();
        var target = (byte*)NativeMemory.Alloc((nuint)Math.Max(ByteSize, 1));
        for (int row = 0; row < order.Length; row++)
            Buffer.MemoryCopy(source + order[row] * rowBytes, target + row * rowBytes, rowBytes, rowBytes);
        return target;
    }

    internal void Release()
    {
        lock (_gate)
        {
            _released = true;
            if (_reordered != null) NativeMemory.Free(_reordered);
            _reordered = null;
        }
    }

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}]";
}
