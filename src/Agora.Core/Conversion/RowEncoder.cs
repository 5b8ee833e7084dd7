using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Conversion;

/// <summary>Fills <paramref name="values"/> with the float32 values of one row (called for different rows at once).</summary>
delegate void RowSource(long row, Span<float> values);

/// <summary>
/// Writes a tensor's rows in a ggml element type, encoding float32 rows with <see cref="Quants.Quantize"/> (ggml's
/// reference quantizers; F16/BF16 rounded to nearest even), a bounded chunk of rows at a time with the rows of a
/// chunk in parallel: what quantizing a model and exporting replaced weights share.
/// </summary>
static class RowEncoder
{
    /// <summary>Elements encoded per chunk (4 MiB of float32): the most held at once per tensor.</summary>
    const long ChunkElements = 1 << 20;

    public static void Write(Stream stream, GgmlType type, long rows, int rowLength, RowSource source, ParallelOptions options)
    {
        long rowBytes = GgmlTypeInfo.ByteSize(type, rowLength);
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
                    source(start + r, values);
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
}
