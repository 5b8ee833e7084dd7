namespace Agora.Formats.Safetensors;

/// <summary>One tensor of a safetensors file: its dtype, shape (row-major, outermost first) and byte range.</summary>
public sealed class SafetensorsTensorInfo
{
    public required string Name { get; init; }
    public required SafetensorsDType DType { get; init; }
    public required long[] Shape { get; init; }
    /// <summary>Start of the data, relative to the data section (what the header's data_offsets[0] says).</summary>
    public required long Begin { get; init; }
    public required long ElementCount { get; init; }
    public required long ByteSize { get; init; }
    public long End => Begin + ByteSize;

    public override string ToString() => $"{Name} {DType}[{string.Join(", ", Shape)}]";
}
