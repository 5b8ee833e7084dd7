using System.Runtime.InteropServices;

namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q5_0: 32 values x = d·(q − 16) with 5-bit q (22 bytes): F16 d, then 32 high bits (bit j of the
/// little-endian word is element j's fifth bit), then the low nibbles laid out as in Q4_0.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q5_0Block
{
    public const int Elements = 32;
    public const int Bytes = 22;

    public Half D;
    public uint Qh;
    public fixed byte Qs[Elements / 2];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q5_0");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q5_0Block*)r, d, blocks);
    }

    internal static void Dequantize(Q5_0Block* b, float* dst, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++, dst += Elements)
        {
            float d = (float)b->D;
            uint qh = b->Qh;
            for (int j = 0; j < Elements / 2; j++)
            {
                int x0 = (int)((b->Qs[j] & 0x0Fu) | (((qh >> j) << 4) & 0x10)) - 16;
                int x1 = (int)((uint)(b->Qs[j] >> 4) | ((qh >> (j + 12)) & 0x10)) - 16;
                dst[j] = x0 * d;
                dst[j + 16] = x1 * d;
            }
        }
    }

    /// <summary>llama.cpp's quantize_row_q5_0_ref, bit for bit: d = m / −16, q = min(31, trunc(x/d + 16.5)).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q5_0");
        var y = MemoryMarshal.Cast<byte, Q5_0Block>(row);
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            float d = Q4_0Block.SignedMax(x) / -16;
            float id = d != 0 ? 1f / d : 0f;
            y[i].D = (Half)d;
            uint qh = 0;
            for (int j = 0; j < Elements / 2; j++)
            {
                int q0 = Math.Min(31, (int)(x[j] * id + 16.5f));
                int q1 = Math.Min(31, (int)(x[j + 16] * id + 16.5f));
                y[i].Qs[j] = (byte)((q0 & 0x0F) | ((q1 & 0x0F) << 4));
                qh |= (uint)((q0 >> 4) & 1) << j;
                qh |= (uint)((q1 >> 4) & 1) << (j + 16);
            }
            y[i].Qh = qh;
        }
    }
}
