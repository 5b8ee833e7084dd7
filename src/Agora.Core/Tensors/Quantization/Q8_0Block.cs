using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Agora.Tensors.Kernels;

namespace Agora.Tensors.Quantization;

/// <summary>ggml's block_q8_0: 32 values x = d·q with q an int8 and d one F16 scale (34 bytes).</summary>
[StructLayout(LayoutKind.Sequential, Pack = 1)]
public unsafe struct Q8_0Block
{
    public const int Elements = 32;
    public const int Bytes = 34;

    public Half D;
    public fixed sbyte Qs[Elements];

    public static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst) => Dequantize(row, dst, Simd.Best);

    internal static void Dequantize(ReadOnlySpan<byte> row, Span<float> dst, SimdWidth width)
    {
        int blocks = BlockRow.Count(row.Length, dst.Length, Bytes, Elements, "Q8_0");
        fixed (byte* r = row) fixed (float* d = dst) Dequantize((Q8_0Block*)r, d, blocks, width);
    }

    internal static void Dequantize(Q8_0Block* b, float* dst, int blocks, SimdWidth width)
    {
        for (int i = 0; i < blocks; i++, b++, dst += Elements)
        {
            float d = (float)b->D;
            if (width == SimdWidth.Scalar)
                for (int j = 0; j < Elements; j++) dst[j] = b->Qs[j] * d;
            else
                Int8Lanes.Scale(Vector128.Load(b->Qs), Vector128.Load(b->Qs + 16), d, dst, width);
        }
    }

    /// <summary>llama.cpp's quantize_row_q8_0_ref, bit for bit: d = max|x| / 127, q = round(x / d) half away from zero.</summary>
    public static void Quantize(ReadOnlySpan<float> src, Span<byte> row)
    {
        int blocks = BlockRow.Count(row.Length, src.Length, Bytes, Elements, "Q8_0");
        var y = MemoryMarshal.Cast<byte, Q8_0Block>(row);
        for (int i = 0; i < blocks; i++)
        {
            var x = src.Slice(i * Elements, Elements);
            float amax = 0;
            foreach (float v in x) amax = amax > MathF.Abs(v) ? amax : MathF.Abs(v); // C's MAX macro
            float d = amax / 127;
            float id = d != 0 ? 1f / d : 0f;
            y[i].D = (Half)d;
            for (int j = 0; j < Elements; j++) y[i].Qs[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
        }
    }
}
