using System.Runtime.InteropServices;
using Agora.Tensors.Kernels;

namespace Agora.Tensors.Quantization;

/// <summary>
/// Rows of any supported ggml element type to float32 and back, dispatching on <see cref="GgmlType"/>. A row is
/// <c>dst.Length</c> elements stored in exactly <see cref="GgmlTypeInfo.ByteSize"/> bytes.
/// </summary>
public static unsafe class Quants
{
    /// <summary>True for the types <see cref="Dequantize"/> reads.</summary>
    public static bool CanDequantize(GgmlType type) => type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
        or GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0
        or GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K;

    /// <summary>Decodes one row. Throws <see cref="AgoraException"/> naming an unsupported type.</summary>
    public static void Dequantize(GgmlType type, ReadOnlySpan<byte> row, Span<float> dst)
    {
        CheckSupported(type);
        CheckRowLength(type, row.Length, dst.Length);
        fixed (byte* r = row) fixed (float* d = dst) DequantizeRow(type, r, d, dst.Length, Simd.Best);
    }

    /// <summary>
    /// Encodes one row as llama.cpp's reference quantizers do (quantize_row_*_ref), F16/BF16 rounding to nearest even.
    /// Throws <see cref="AgoraException"/> naming an unsupported type.
    /// </summary>
    public static void Quantize(GgmlType type, ReadOnlySpan<float> src, Span<byte> row)
    {
        CheckSupported(type);
        CheckRowLength(type, row.Length, src.Length);
        switch (type)
        {
            case GgmlType.F32: MemoryMarshal.AsBytes(src).CopyTo(row); break;
            case GgmlType.F16: ElementConversion.F32ToF16(src, MemoryMarshal.Cast<byte, Half>(row)); break;
            case GgmlType.BF16: ElementConversion.F32ToBF16(src, MemoryMarshal.Cast<byte, ushort>(row)); break;
            case GgmlType.Q4_0: Q4_0Block.Quantize(src, row); break;
            case GgmlType.Q4_1: Q4_1Block.Quantize(src, row); break;
            case GgmlType.Q5_0: Q5_0Block.Quantize(src, row); break;
            case GgmlType.Q5_1: Q5_1Block.Quantize(src, row); break;
            case GgmlType.Q8_0: Q8_0Block.Quantize(src, row); break;
            case GgmlType.Q2_K: Q2_KBlock.Quantize(src, row); break;
            case GgmlType.Q3_K: Q3_KBlock.Quantize(src, row); break;
            case GgmlType.Q4_K: Q4_KBlock.Quantize(src, row); break;
            case GgmlType.Q5_K: Q5_KBlock.Quantize(src, row); break;
            case GgmlType.Q6_K: Q6_KBlock.Quantize(src, row); break;
            case GgmlType.Q8_K: Q8_KBlock.Quantize(src, row); break;
        }
    }

    /// <summary>The unchecked core: <paramref name="n"/> elements (whole blocks) from <paramref name="row"/>.</summary>
    internal static void DequantizeRow(GgmlType type, byte* row, float* dst, int n, SimdWidth width)
    {
        switch (type)
        {
            case GgmlType.F32: new ReadOnlySpan<float>(row, n).CopyTo(new Span<float>(dst, n)); break;
            case GgmlType.F16: ElementConversion.F16ToF32(new ReadOnlySpan<Half>(row, n), new Span<float>(dst, n)); break;
            case GgmlType.BF16: ElementConversion.BF16ToF32(new ReadOnlySpan<ushort>(row, n), new Span<float>(dst, n), width); break;
            case GgmlType.Q4_0: Q4_0Block.Dequantize((Q4_0Block*)row, dst, n / Q4_0Block.Elements, width); break;
            case GgmlType.Q4_1: Q4_1Block.Dequantize((Q4_1Block*)row, dst, n / Q4_1Block.Elements); break;
            case GgmlType.Q5_0: Q5_0Block.Dequantize((Q5_0Block*)row, dst, n / Q5_0Block.Elements); break;
            case GgmlType.Q5_1: Q5_1Block.Dequantize((Q5_1Block*)row, dst, n / Q5_1Block.Elements); break;
            case GgmlType.Q8_0: Q8_0Block.Dequantize((Q8_0Block*)row, dst, n / Q8_0Block.Elements, width); break;
            case GgmlType.Q2_K: Q2_KBlock.Dequantize((Q2_KBlock*)row, dst, n / Q2_KBlock.Elements); break;
            case GgmlType.Q3_K: Q3_KBlock.Dequantize((Q3_KBlock*)row, dst, n / Q3_KBlock.Elements); break;
            case GgmlType.Q4_K: Q4_KBlock.Dequantize((Q4_KBlock*)row, dst, n / Q4_KBlock.Elements); break;
            case GgmlType.Q5_K: Q5_KBlock.Dequantize((Q5_KBlock*)row, dst, n / Q5_KBlock.Elements); break;
            case GgmlType.Q6_K: Q6_KBlock.Dequantize((Q6_KBlock*)row, dst, n / Q6_KBlock.Elements); break;
            case GgmlType.Q8_K: Q8_KBlock.Dequantize((Q8_KBlock*)row, dst, n / Q8_KBlock.Elements); break;
            default: throw Unsupported(type);
        }
    }

    internal static void CheckSupported(GgmlType type)
    {
        if (!CanDequantize(type)) throw Unsupported(type);
    }

    internal static void CheckRowLength(GgmlType type, long rowBytes, long elements)
    {
        long expected = GgmlTypeInfo.ByteSize(type, elements);
        if (expected < 0)
            throw new ArgumentException($"{type}: {elements} elements are not a whole number of {GgmlTypeInfo.BlockSize(type)}-element blocks");
        if (expected != rowBytes)
            throw new ArgumentException($"{type}: {elements} elements take {expected} bytes, got {rowBytes}");
    }

    static AgoraException Unsupported(GgmlType type) => new(GgmlTypeInfo.IsKnown(type)
        ? $"tensor type {type} is not supported (supported: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K)"
        : $"unknown tensor type id {(uint)type}");
}
