using System.Runtime.InteropServices;

namespace Agora.Tensors.Quantization;

/// <summary>ggml's block_q5_1: 32 values x = d·q + m with 5-bit q (24 bytes): F16 d and m, high bits, low nibbles as in Q5_0.</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q5_1Block
{
    public const int Elements = 32;
    public const int Bytes = 24;

    public Half D;
    public Half M;
    public uint Qh;
    public fixed byte Qs[Elements / 2];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q5_1");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q5_1Block*)r, d, blocks);
    }

    internal static void Dequantize(Q5_1Block* b, float* dst, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++, dst += Elements)
        {
            float d = (float)b->D, m = (float)b->M;
            uint qh = b->Qh;
            for (int j = 0; j < Elements / 2; j++)
            {
                int x0 = (int)((b->Qs[j] & 0x0Fu) | (((qh >> j) << 4) & 0x10));
                int x1 = (int)((uint)(b->Qs[j] >> 4) | ((qh >> (j + 12)) & 0x10));
                dst[j] = x0 * d + m;
                dst[j + 16] = x1 * d + m;
            }
        }
    }

    /// <summary>llama.cpp's quantize_row_q5_1_ref, bit for bit: d = (max − min) / 31, q = trunc((x − min)/d + ½).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q5_1");
        var y = MemoryMarshal.Cast<byte, Q5_1Block>(row);
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            var (min, max) = Q4_1Block.MinMax(x);
            float d = (max - min) / 31;
            float id = d != 0 ? 1f / d : 0f;
            y[i].D = (Half)d;
            y[i].M = (Half)min;
            uint qh = 0;
            for (int j = 0; j < Elements / 2; j++)
            {
                int q0 = (byte)(int)((x[j] - min) * id + 0.5f);
                int q1 = (byte)(int)((x[j + 16] - min) * id + 0.5f);
                y[i].Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 >> 4) & 1) << j;
                qh |= (uint)((q1 >> 4) & 1) << (j + 16);
            }
            y[i].Qh = qh;
        }
    }
}
