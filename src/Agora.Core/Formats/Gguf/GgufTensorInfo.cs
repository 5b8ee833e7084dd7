using Agora.Tensors;

namespace Agora.Formats.Gguf;

/// <summary>One tensor of a GGUF file: its name, shape, element type and where its bytes lie.</summary>
public sealed class GgufTensorInfo
{
    public string Name { get; }

    /// <summary>Dimensions in ggml order: <c>Shape[0]</c> is the row length (innermost, contiguous).</summary>
    public long[] Shape { get; }

    public GgmlType Type { get; }

    /// <summary>Start of the tensor's bytes, relative to <see cref="GgufFile.DataOffset"/>.</summary>
    public long Offset { get; }

    public long ElementCount { get; }

    public long ByteSize { get; }

    internal GgufTensorInfo(string name, long[] shape, GgmlType type, long offset, long elementCount, long byteSize)
    {
        Name = name;
        Shape = shape;
        Type = type;
        Offset = offset;
        ElementCount = elementCount;
        ByteSize = byteSize;
    }

    public override string ToString() => $"{Name} {Type} [{string.Join(", ", Shape)}]";
}
