using System.Runtime.InteropServices;

namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q3_K: 256 values in 16 groups of 16, x = d·(s − 32)·(q − 4) with 3-bit q (two low bits in qs as in
/// Q2_K, the third in hmask: bit k of hmask[l] for value 32k + l) and 6-bit s packed in 12 bytes (110 bytes).
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q3_KBlock
{
    public const int Elements = 256;
    public const int Bytes = 110;

    public fixed byte HMask[32];
    public fixed byte Qs[64];
    public fixed byte Scales[12];
    public Half D;

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q3_K");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q3_KBlock*)r, d, blocks);
    }

    internal static void Dequantize(Q3_KBlock* b, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++)
        {
            float dAll = (float)b->D;
            byte* q = b->Qs;
            byte* hm = b->HMask;
            int group = 0, mask = 1;
            for (int half = 0; half < 2; half++, q += 32)
                for (int shift = 0; shift < 8; shift += 2, mask <<= 1)
                    for (int part = 0; part < 2; part++)
                    {
                        float dl = dAll * (Scale(b->Scales, group++) - 32);
                        for (int l = 16 * part; l < 16 * part + 16; l++)
                            *y++ = dl * (((q[l] >> shift) & 3) - ((hm[l] & mask) != 0 ? 0 : 4));
                    }
        }
    }

    /// <summary>The j-th 6-bit scale (0..63, before the −32): low nibble from bytes 0..7, high two bits from bytes 8..11.</summary>
    static int Scale(byte* scales, int j) =>
        (j < 8 ? scales[j] & 0xF : scales[j - 8] >> 4) | (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);

    /// <summary>llama.cpp's quantize_row_q3_K_ref (iteratively refined symmetric levels per group of 16, 6-bit scales).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q3_K");
        Span<sbyte> levels = stackalloc sbyte[Elements];
        Span<byte> low = stackalloc byte[Elements];
        Span<float> scales = stackalloc float[16];
        fixed (byte* rowStart = row)
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            var block = (Q3_KBlock*)rowStart + i;
            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = KQuantSearch.Q3Levels(x.Slice(16 * j, 16), 4, levels.Slice(16 * j, 16));
                if (MathF.Abs(scales[j]) > amax) { amax = MathF.Abs(scales[j]); maxScale = scales[j]; }
            }
            for (int j = 0; j < 12; j++) block->Scales[j] = 0;
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    int l = Math.Clamp((int)(sbyte)BlockRow.NearestInt(iscale * scales[j]), -32, 31) + 32;
                    if (j < 8) block->Scales[j] = (byte)(l & 0xF);
                    else block->Scales[j - 8] |= (byte)((l & 0xF) << 4);
                    block->Scales[j % 4 + 8] |= (byte)((l >> 4) << (2 * (j / 4)));
                }
                block->D = (Half)(1 / iscale);
            }
            else block->D = (Half)0f;
            for (int j = 0; j < 16; j++)
            {
                float d = (float)block->D * (Scale(block->Scales, j) - 32);
                if (d == 0) continue;
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (sbyte)(Math.Clamp(BlockRow.NearestInt(x[16 * j + l] / d), -4, 3) + 4);
            }
            for (int j = 0; j < 32; j++) block->HMask[j] = 0;
            for (int j = 0; j < Elements; j++)
            {
                int l = levels[j];
                if (l > 3) { block->HMask[j % 32] |= (byte)(1 << (j / 32)); l -= 4; }
                low[j] = (byte)l;
            }
            Q2_KBlock.PackTwoBit(low, block->Qs);
        }
    }
}
