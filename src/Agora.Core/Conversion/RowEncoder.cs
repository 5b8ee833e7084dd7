using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Conversion;

/// <summary>
/// Fills <paramref name="values"/> with the float32 values of run <paramref name="index"/> of a tensor cut into runs
/// of <c>values.Length</c> elements: its rows, or the units a row order moves (called for different runs at once).
/// </summary>
delegate void RowSource(long index, Span<float> values);

/// <summary>
/// Writes a tensor's rows in a ggml element type: each row is read as float32, checked to be finite and encoded with
/// <see cref="Quants.Quantize"/> (ggml's reference quantizers; F16/BF16 rounded to nearest even), a bounded chunk of
/// rows at a time with the rows of a chunk in parallel, so memory stays small whatever the tensor's size. Every tensor
/// Agora encodes goes through here: quantized copies, Hugging Face folders converted to GGUF, exported weights.
/// </summary>
static class RowEncoder
{
    /// <summary>Elements encoded per chunk (4 MiB of float32): the most held at once per tensor.</summary>
    const long ChunkElements = 1 << 20;

    /// <summary>
    /// Writes <paramref name="rows"/> rows of <paramref name="rowLength"/> elements as <paramref name="type"/>. A
    /// non-finite value is refused with a format error naming <paramref name="origin"/>, the tensor and the row.
    /// </summary>
    public static void Write(Stream stream, GgmlType type, long rows, int rowLength, RowSource source, ParallelOptions options,
        string origin, string tensor)
    {
        long rowBytes = GgmlTypeInfo.ByteSize(type, rowLength);
        if (rowBytes < 0)
            throw new AgoraException($"tensor '{tensor}': rows of {rowLength} elements are not a whole number of {type} blocks of {GgmlTypeInfo.BlockSize(type)}");
        int chunkRows = (int)Math.Clamp(ChunkElements / Math.Max(rowLength, 1), 1, Math.Max(rows, 1));
        var chunk = new byte[chunkRows * rowBytes];
        for (long first = 0; first < rows; first += chunkRows)
        {
            int count = (int)Math.Min(chunkRows, rows - first);
            long start = first;
            try
            {
                Parallel.For(0, count, options, () => new float[rowLength], (r, _, values) =>
                {
                    long row = start + r;
                    source(row, values);
                    foreach (float v in values)
                        if (!float.IsFinite(v))
                            throw new AgoraFormatException(origin, $"tensor '{tensor}' row {row} holds {v}; it cannot be encoded");
                    Quants.Quantize(type, values, chunk.AsSpan((int)(r * rowBytes), (int)rowBytes));
                    return values;
                }, _ => { });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0 && e.InnerExceptions[0] is AgoraException inner)
            {
                throw inner;
            }
            stream.Write(chunk, 0, (int)(count * rowBytes));
        }
    }

    /// <summary>The runs of a tensor stored contiguously at <paramref name="data"/> as <paramref name="type"/> (runs of whole blocks).</summary>
    public static unsafe RowSource Stored(nint data, GgmlType type) => (index, values) =>
    {
        long bytes = GgmlTypeInfo.ByteSize(type, values.Length);
        if (bytes < 0) throw new ArgumentException($"runs of {values.Length} elements are not whole {type} blocks", nameof(values));
        Quants.Dequantize(type, new ReadOnlySpan<byte>((byte*)data + index * bytes, (int)bytes), values);
    };

    /// <summary>
    /// The rows of a tensor of <paramref name="elements"/> elements whose units <paramref name="order"/> moves: the
    /// tensor is cut into <c>order.Length</c> equal units (its rows, or the elements of a vector) read from
    /// <paramref name="units"/>, and source unit s becomes unit <c>order[s]</c> of the output (the maps
    /// <see cref="Formats.Checkpoint.GgufRowOrder"/> gives: Hugging Face row → llama.cpp row). A null order keeps the
    /// source's order.
    /// </summary>
    public static RowSource Reordered(RowSource units, int[]? order, long elements, int rowLength)
    {
        if (order == null || elements == 0) return units;
        long unit = elements / order.Length;
        if (unit == 0 || unit * order.Length != elements || rowLength % unit != 0)
            throw new ArgumentException($"{elements} elements do not split into {order.Length} units that rows of {rowLength} hold whole", nameof(order));
        var from = new int[order.Length];
        for (int s = 0; s < order.Length; s++) from[order[s]] = s;
        int length = (int)unit, perRow = (int)(rowLength / unit);
        return (row, values) =>
        {
            for (int k = 0; k < perRow; k++)
                units(from[row * perRow + k], values.Slice(k * length, length));
        };
    }
}
