using System.Runtime.InteropServices;

namespace Agora.Tensors.Quantization;

/// <summary>
/// ggml's block_q2_K: 256 values in 16 groups of 16, x = d·s·q − dmin·m with 2-bit q and 4-bit s (low nibble) and
/// m (high nibble) per group (84 bytes). qs byte l of each 128-value half holds values l, l+32, l+64, l+96.
/// </summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q2_KBlock
{
    public const int Elements = 256;
    public const int Bytes = 84;

    public fixed byte Scales[16];
    public fixed byte Qs[64];
    public Half D;
    public Half DMin;

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q2_K");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q2_KBlock*)r, d, blocks);
    }

    internal static void Dequantize(Q2_KBlock* b, float* y, int blocks)
    {
        for (int i = 0; i < blocks; i++, b++)
        {
            float d = (float)b->D, min = (float)b->DMin;
            byte* q = b->Qs;
            int group = 0;
            for (int half = 0; half < 2; half++, q += 32)
                for (int shift = 0; shift < 8; shift += 2)
                    for (int part = 0; part < 2; part++)
                    {
                        byte sc = b->Scales[group++];
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int l = 0; l < 16; l++) *y++ = dl * ((q[l + 16 * part] >> shift) & 3) - ml;
                    }
        }
    }

    /// <summary>llama.cpp's quantize_row_q2_K_ref (absolute-error affine search per group of 16, 4-bit scales).</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q2_K");
        Span<byte> levels = stackalloc byte[Elements], scratch = stackalloc byte[16];
        Span<float> weights = stackalloc float[16], mins = stackalloc float[16], scales = stackalloc float[16];
        const float q4Scale = 15f;
        fixed (byte* rowStart = row)
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            var block = (Q2_KBlock*)rowStart + i;
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(x[16 * j + l]);
                scales[j] = KQuantSearch.AffineLevels(x.Slice(16 * j, 16), weights, 3, -0.5f, 0.1f, 15, true,
                    levels.Slice(16 * j, 16), scratch, out mins[j]);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            if (maxScale > 0)
            {
                float iscale = q4Scale / maxScale;
                for (int j = 0; j < 16; j++) block->Scales[j] = (byte)BlockRow.NearestInt(iscale * scales[j]);
                block->D = (Half)(maxScale / q4Scale);
            }
            else
            {
                for (int j = 0; j < 16; j++) block->Scales[j] = 0;
                block->D = (Half)0f;
            }
            if (maxMin > 0)
            {
                float iscale = q4Scale / maxMin;
                for (int j = 0; j < 16; j++) block->Scales[j] |= (byte)(BlockRow.NearestInt(iscale * mins[j]) << 4);
                block->DMin = (Half)(maxMin / q4Scale);
            }
            else block->DMin = (Half)0f;
            for (int j = 0; j < 16; j++)
            {
                float d = (float)block->D * (block->Scales[j] & 0xF);
                if (d == 0) continue;
                float dm = (float)block->DMin * (block->Scales[j] >> 4);
                for (int l = 0; l < 16; l++)
                    levels[16 * j + l] = (byte)Math.Clamp(BlockRow.NearestInt((x[16 * j + l] + dm) / d), 0, 3);
            }
            PackTwoBit(levels, block->Qs);
        }
    }

    /// <summary>Four 2-bit levels per byte: byte l of each 128-value half holds values l, l+32, l+64, l+96.</summary>
    internal static void PackTwoBit(ReadOnlySpan<byte> levels, byte* qs)
    {
        for (int j = 0; j < Elements; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (byte)(levels[j + l] | (levels[j + l + 32] << 2) | (levels[j + l + 64] << 4) | (levels[j + l + 96] << 6));
    }
}
