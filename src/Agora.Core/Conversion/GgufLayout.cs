using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Conversion;

/// <summary>
/// One tensor of a <see cref="GgufLayout"/>: its GGUF name and shape, the type a plain copy keeps, and where its rows
/// come from.
/// </summary>
/// <param name="Shape">ggml order: <c>Shape[0]</c> is the row length.</param>
/// <param name="Type">The type the tensor keeps when it is not quantized (F32 for the vectors and norms of a converted model).</param>
/// <param name="SourceType">The element type of the stored rows.</param>
/// <param name="SourceBytes">The size of the stored tensor.</param>
/// <param name="Data">The address of the stored tensor, valid while its file is open; asked for only when written.</param>
/// <param name="RowOrder">Null when stored in output order; else, as for <see cref="RowEncoder.Reordered"/>, the output unit of each stored unit.</param>
public sealed record GgufLayoutTensor(string Name, long[] Shape, GgmlType Type, GgmlType SourceType, long SourceBytes,
    Func<nint> Data, int[]? RowOrder = null)
{
    public long ElementCount => Shape.Aggregate(1L, (n, d) => n * d);
}

/// <summary>
/// A model as a GGUF file will hold it: metadata in order and tensors in order, each with the source of its rows.
/// A GGUF file gives its own (<see cref="Of"/>); a Hugging Face folder gives the layout llama.cpp's converter writes
/// (<see cref="HfToGguf.Layout"/>).
/// </summary>
public sealed record GgufLayout(uint Version, IReadOnlyList<KeyValuePair<string, GgufValue>> Metadata, IReadOnlyList<GgufLayoutTensor> Tensors)
{
    /// <summary>The layout of an open GGUF file, which must stay open while the layout is used.</summary>
    public static unsafe GgufLayout Of(GgufFile gguf) =>
        new(gguf.Version, [.. gguf.Metadata], [.. gguf.Tensors.Select(t =>
            new GgufLayoutTensor(t.Name, t.Shape, t.Type, t.Type, t.ByteSize, () => (nint)gguf.TensorPointer(t)))]);
}
