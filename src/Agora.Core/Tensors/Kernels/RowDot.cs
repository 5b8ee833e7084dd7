using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// One weight row dotted with one activation row, read in place in the row's own type: F16/BF16 against the
/// float activations, the int8-activated types (<see cref="MatrixProduct.Int8Activated"/>) against their int8 blocks.
/// Types that <see cref="MatrixProduct.Decodes"/> have no direct kernel here, nor F32 (<see cref="FloatGemm"/> serves it).
/// </summary>
internal static unsafe class RowDot
{
    public static float Dot(GgmlType type, byte* row, float* x, Int8Row xq, int inDim, SimdWidth width)
    {
        int blocks = inDim / Int8Block.Elements;
        return type switch
        {
            GgmlType.Q8_0 => Int8Block.DotQ8_0((Q8_0Block*)row, xq, blocks, width),
            GgmlType.Q4_0 => Int8Block.DotQ4_0((Q4_0Block*)row, xq, blocks, width),
            GgmlType.Q4_1 => QuantizedDot.DotQ4_1((Q4_1Block*)row, xq, blocks, width),
            GgmlType.Q5_0 => QuantizedDot.DotQ5_0((Q5_0Block*)row, xq, blocks, width),
            GgmlType.Q5_1 => QuantizedDot.DotQ5_1((Q5_1Block*)row, xq, blocks, width),
            GgmlType.Q4_K => QuantizedDot.DotQ4_K((Q4_KBlock*)row, xq, blocks / 8, width),
            GgmlType.Q5_K => QuantizedDot.DotQ5_K((Q5_KBlock*)row, xq, blocks / 8, width),
            GgmlType.Q6_K => QuantizedDot.DotQ6_K((Q6_KBlock*)row, xq, blocks / 8, width),
            GgmlType.F16 => HalfDot.DotF16((Half*)row, x, inDim, width),
            GgmlType.BF16 => HalfDot.DotBF16((ushort*)row, x, inDim, width),
            _ => throw new InvalidOperationException($"no product for {type}"),
        };
    }
}
