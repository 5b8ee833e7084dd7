using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Conversion;

/// <summary>
/// Writes a tensor's rows to a stream in a GGUF element type: each row is read as float32, checked to be finite and
/// encoded with <see cref="Quants.Quantize"/> (ggml's reference quantizers; F16/BF16 rounded to nearest even), a
/// bounded chunk of rows at a time with the rows of a chunk in parallel, so memory stays small whatever the tensor's
/// size. Every tensor Agora converts goes through here: GGUF rows re-quantized, and Hugging Face rows put into
/// llama.cpp's row order (<see cref="Stored"/> with a gather map).
/// </summary>
public static unsafe class TensorRowEncoder
{
    /// <summary>Fills <paramref name="values"/> (one row) with row <paramref name="row"/> of the tensor as it is to be written.</summary>
    public delegate void RowReader(long row, Span<float> values);

    /// <summary>Elements encoded per chunk (4 MiB of float32): the most held at once per tensor.</summary>
    const long ChunkElements = 1 << 20;

    /// <summary>
    /// Writes <paramref name="rows"/> rows of <paramref name="rowLength"/> elements as <paramref name="to"/>. A
    /// non-finite value is refused with a format error naming <paramref name="origin"/>, the tensor and the row.
    /// </summary>
    public static void Write(Stream stream, GgmlType to, int rowLength, long rows, RowReader read, ParallelOptions options,
        string origin, string tensor)
    {
        long toRow = GgmlTypeInfo.ByteSize(to, rowLength);
        if (toRow < 0)
            throw new AgoraException($"tensor '{tensor}': rows of {rowLength} elements are not a whole number of {to} blocks of {GgmlTypeInfo.BlockSize(to)}");
        int chunkRows = (int)Math.Clamp(ChunkElements / Math.Max(rowLength, 1), 1, Math.Max(rows, 1));
        var chunk = new byte[chunkRows * toRow];
        for (long first = 0; first < rows; first += chunkRows)
        {
            int count = (int)Math.Min(chunkRows, rows - first);
            long start = first;
            try
            {
                Parallel.For(0, count, options, () => new float[rowLength], (r, _, values) =>
                {
                    long row = start + r;
                    read(row, values);
                    foreach (float v in values)
                        if (!float.IsFinite(v))
                            throw new AgoraFormatException(origin, $"tensor '{tensor}' row {row} holds {v}; it cannot be converted");
                    Quants.Quantize(to, values, chunk.AsSpan((int)(r * toRow), (int)toRow));
                    return values;
                }, _ => { });
            }
            catch (AggregateException e) when (e.InnerExceptions.Count > 0 && e.InnerExceptions[0] is AgoraException inner)
            {
                throw inner;
            }
            stream.Write(chunk, 0, (int)(count * toRow));
        }
    }

    /// <summary>
    /// A reader of a tensor of <paramref name="elements"/> elements stored contiguously at <paramref name="data"/> as
    /// <paramref name="type"/>, read in rows of <paramref name="rowLength"/>. With <paramref name="gather"/>, the
    /// tensor is cut into <c>gather.Length</c> equal units (its rows, or the elements of a vector) and unit u of the
    /// output is stored unit <c>gather[u]</c>: the inverse (<see cref="Invert"/>) of a <see cref="Formats.Checkpoint.GgufRowOrder"/>
    /// map turns Hugging Face order into llama.cpp's.
    /// </summary>
    public static RowReader Stored(nint data, GgmlType type, long elements, int rowLength, int[]? gather = null)
    {
        long rowBytes = GgmlTypeInfo.ByteSize(type, rowLength);
        if (rowBytes < 0)
            throw new ArgumentException($"rows of {rowLength} elements are not whole {type} blocks", nameof(rowLength));
        if (gather == null)
            return (row, values) => Quants.Dequantize(type, new ReadOnlySpan<byte>((byte*)data + row * rowBytes, (int)rowBytes), values);

        long unit = elements / gather.Length;
        long unitBytes = GgmlTypeInfo.ByteSize(type, unit);
        if (unit == 0 || unit * gather.Length != elements || unitBytes < 0 || rowLength % unit != 0)
            throw new ArgumentException($"{elements} elements do not split into {gather.Length} units that rows of {rowLength} hold whole", nameof(gather));
        int unitsPerRow = (int)(rowLength / unit);
        return (row, values) =>
        {
            for (int k = 0; k < unitsPerRow; k++)
            {
                long source = gather[row * unitsPerRow + k];
                Quants.Dequantize(type, new ReadOnlySpan<byte>((byte*)data + source * unitBytes, (int)unitBytes),
                    values.Slice(k * (int)unit, (int)unit));
            }
        };
    }

    /// <summary>The inverse permutation: for a map from each source unit to its output unit, the source unit of each output unit.</summary>
    public static int[] Invert(int[] map)
    {
        var inverse = new int[map.Length];
        for (int i = 0; i < map.Length; i++) inverse[map[i]] = i;
        return inverse;
    }
}
