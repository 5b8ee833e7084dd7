using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Agora.Tensors.Kernels;

namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q4_0: 32 values x = d·(q − 8) with 4-bit q (18 bytes). Byte j holds element j in its low nibble
/// and element j + 16 in its high nibble.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q4_0Block
{
    public const int Elements = 32;
    public const int Bytes = 18;

    public Half D;
    public fixed byte Qs[Elements / 2];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst) => Dequantize(row, dst, Simd.Best);

    internal static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst, SimdWidth width)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q4_0");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q4_0Block*)r, d, blocks, width);
    }

    internal static void Dequantize(Q4_0Block* b, float* dst, int blocks, SimdWidth width)
    {
        for (int i = 0; i < blocks; i++, b++, dst += Elements)
        {
            float d = (float)b->D;
            if (width == SimdWidth.Scalar)
                for (int j = 0; j < Elements / 2; j++)
                {
                    dst[j] = ((b->Qs[j] & 0x0F) - 8) * d;
                    dst[j + 16] = ((b->Qs[j] >> 4) - 8) * d;
                }
            else
            {
                var (lo, hi) = Unpack(b);
                Int8Lanes.Scale(lo, hi, d, dst, width);
            }
        }
    }

    // Elements 0..15 and 16..31 as signed q − 8 (the subtraction wraps in bytes; read as sbyte it is exact).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static (Vector128<sbyte>, Vector128<sbyte>) Unpack(Q4_0Block* b)
    {
        var q = Vector128.Load(b->Qs);
        var eight = Vector128.Create((byte)8);
        return (((q & Vector128.Create((byte)0x0F)) - eight).AsSByte(), (Vector128.ShiftRightLogical(q, 4) - eight).AsSByte());
    }

    /// <summary>
    /// llama.cpp's quantize_row_q4_0_ref, bit for bit: d = m / −8 where m is the first value of largest magnitude,
    /// q = min(15, trunc(x/d + 8.5)).
    /// </summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q4_0");
        var y = MemoryMarshal.Cast<byte, Q4_0Block>(row);
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            float max = SignedMax(x);
            float d = max / -8;
            float id = d != 0 ? 1f / d : 0f;
            y[i].D = (Half)d;
            for (int j = 0; j < Elements / 2; j++)
            {
                int q0 = Math.Min(15, (int)(x[j] * id + 8.5f));
                int q1 = Math.Min(15, (int)(x[j + 16] * id + 8.5f));
                y[i].Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    /// <summary>The first value of largest magnitude, sign kept (the symmetric quantizers' scale source).</summary>
    internal static float SignedMax(ReadOnlySpan<float> x)
    {
        float amax = 0, max = 0;
        foreach (float v in x)
            if (amax < MathF.Abs(v)) { amax = MathF.Abs(v); max = v; }
        return max;
    }
}
