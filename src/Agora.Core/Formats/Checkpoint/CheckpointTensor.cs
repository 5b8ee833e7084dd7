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
    readonly Func<int[]>? _rowOrder;
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
    /// <summary>
    /// True when the file stores the rows in another order (llama.cpp's Q/K and fused-QKV layouts) and this
    /// tensor presents them in Hugging Face order: the bytes then live in a copy made on first access.
    /// </summary>
    public bool IsReordered => _rowOrder != null;

    /// <summary>
    /// For a re-ordered tensor, the file row holding each Hugging Face row (rows are the outermost dimension; a
    /// vector's rows are its elements); null when the file keeps Hugging Face order. Writers scatter with it.
    /// </summary>
    internal int[]? FileRowOrder() => _rowOrder?.Invoke();

    internal CheckpointTensor(string name, string sourceName, GgmlType type, long[] shape, long elementCount, long byteSize,
        Func<nint> source, Func<int[]>? rowOrder = null)
    {
        Name = name;
        SourceName = sourceName;
        Type = type;
        Shape = shape;
        ElementCount = elementCount;
        ByteSize = byteSize;
        _source = source;
        _rowOrder = rowOrder;
    }

    /// <summary>Pointer to the first byte, valid until the checkpoint is disposed.</summary>
    public byte* Pointer
    {
        get
        {
            if (_rowOrder == null) return (byte*)_source();
            lock (_gate)
            {
                ObjectDisposedException.ThrowIf(_released, this);
                if (_reordered == null) _reordered = Reorder();
                return _reordered;
            }
        }
    }

    /// <summary>The bytes as a span (tensors under 2 GiB; use <see cref="Pointer"/> beyond).</summary>
    public ReadOnlySpan<byte> Data =>
        ByteSize <= int.MaxValue
            ? new ReadOnlySpan<byte>(Pointer, (int)ByteSize)
            : throw new AgoraException($"tensor '{Name}' has {ByteSize} bytes, too many for a span; read it through Pointer");

    /// <summary>
    /// Moves whole rows (the outermost dimension), which works on quantized rows too: a row of blocks is moved
    /// as it is, never dequantised.
    /// </summary>
    byte* Reorder()
    {
        var order = _rowOrder!();
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
