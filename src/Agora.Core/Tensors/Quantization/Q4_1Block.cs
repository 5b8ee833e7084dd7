using System.Runtime.InteropServices;

namespace Agora.Tensors.Quantization;

/// <summary>ggml's block_q4_1: 32 values x = d·q + m with 4-bit q, F16 d and m (20 bytes); nibbles as in Q4_0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q4_1Block
{
    public const int Elements = 32;
    public const int Bytes = 20;

    public Half D;
    public Half M;
    public fixed byte Qs[Elements / 2];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q4_1");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q4_1Block*)r, d, blocks);
    }

    internal static void Dequantize(Q4_1Block* b, float* dst, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++, dst += Elements)
        {
            float d = (float)b->D, m = (float)b->M;
            for (int j = 0; j < Elements / 2; j++)
            {
                dst[j] = (b->Qs[j] & 0x0F) * d + m;
                dst[j + 16] = (b->Qs[j] >> 4) * d + m;
            }
        }
    }

    /// <summary>llama.cpp's quantize_row_q4_1_ref, bit for bit: d = (max − min) / 15, q = min(15, trunc((x − min)/d + ½)).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q4_1");
        var y = MemoryMarshal.Cast<byte, Q4_1Block>(row);
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            var (min, max) = MinMax(x);
            float d = (max - min) / 15;
            float id = d != 0 ? 1f / d : 0f;
            y[i].D = (Half)d;
            y[i].M = (Half)min;
            for (int j = 0; j < Elements / 2; j++)
            {
                int q0 = Math.Min(15, (int)((x[j] - min) * id + 0.5f));
                int q1 = Math.Min(15, (int)((x[j + 16] - min) * id + 0.5f));
                y[i].Qs[j] = (byte)(q0 | (q1 << 4));
            }
        }
    }

    /// <summary>Smallest and largest value, as the asymmetric quantizers scan them.</summary>
    internal static (float Min, float Max) MinMax(ReadOnlySpan<float> x)
    {
        float min = float.MaxValue, max = -float.MaxValue;
        foreach (float v in x)
        {
            if (v < min) min = v;
            if (v > max) max = v;
        }
        return (min, max);
    }
}
