using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Adapters;

/// <summary>LoRA matrices between float32 and their stored types, shared by the PEFT and GGUF readers and writers.</summary>
static class LoraTensorData
{
    /// <summary>
    /// Decodes <paramref name="rows"/> rows of <paramref name="rowLength"/> elements. The caller has checked that
    /// the shape matches the stored byte size (the file readers do), so the allocation is bounded by the file.
    /// </summary>
    public static float[] Decode(string path, string tensor, GgmlType type, ReadOnlySpan<byte> data, long rows, long rowLength)
    {
        if (!Quants.CanDequantize(type))
            throw new AgoraFormatException(path, $"tensor '{tensor}' is {type}, which Agora cannot read");
        long count = rows * rowLength;
        if (count > Array.MaxLength) throw new AgoraFormatException(path, $"tensor '{tensor}' has {count} elements, too many for one LoRA matrix");
        var values = new float[count];
        if (rowLength % GgmlTypeInfo.BlockSize(type) != 0)
            throw new AgoraFormatException(path, $"tensor '{tensor}': rows of {rowLength} values do not split into {type} blocks");
        long rowBytes = GgmlTypeInfo.ByteSize(type, rowLength);
        if (rowBytes * rows != data.Length)
            throw new AgoraFormatException(path, $"tensor '{tensor}': {data.Length} bytes do not hold {rows} rows of {rowLength} {type} values");
        for (long r = 0; r < rows; r++)
            Quants.Dequantize(type, data.Slice((int)(r * rowBytes), (int)rowBytes), values.AsSpan((int)(r * rowLength), (int)rowLength));
        return values;
    }

    /// <summary>Encodes float32 values as F32, F16 or BF16 (round to nearest even).</summary>
    public static byte[] Encode(GgmlType type, float[] values)
    {
        var bytes = new byte[GgmlTypeInfo.ByteSize(type, values.Length)];
        Quants.Quantize(type, values, bytes);
        return bytes;
    }
}
