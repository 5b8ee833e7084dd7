using System.Numerics.Tensors;

namespace Agora.Tensors.Kernels;

/// <summary>
/// RMSNorm and LayerNorm over rows: <c>x</c> holds whole rows of <c>weight.Length</c> elements each
/// (one token, or a prompt's worth). Destinations may alias sources exactly.
/// </summary>
public static class Normalization
{
    /// <summary>LLaMA's RMSNorm: x / √(mean(x²) + eps) · weight, per row.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, Span<float> dst)
    {
        int dim = CheckRows(x, weight, dst);
        for (int r = 0; r < x.Length; r += dim)
        {
            var row = x.Slice(r, dim);
            var output = dst.Slice(r, dim);
            // The statistics accumulate in float like PyTorch's float32 path; the scale is formed in double.
            float scale = (float)(1.0 / Math.Sqrt(TensorPrimitives.SumOfSquares(row) / dim + (double)eps));
            TensorPrimitives.Multiply(row, scale, output);
            TensorPrimitives.Multiply(output, weight, output);
        }
    }

    /// <summary>LayerNorm with PyTorch semantics (biased variance): (x − mean) / √(var + eps) · weight + bias, per row.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, float eps, Span<float> dst)
    {
        int dim = CheckRows(x, weight, dst);
        if (bias.Length != dim) throw new ArgumentException($"bias has {bias.Length} elements, weight {dim}");
        for (int r = 0; r < x.Length; r += dim)
        {
            var output = dst.Slice(r, dim);
            float mean = TensorPrimitives.Sum(x.Slice(r, dim)) / dim;
            // Two passes (centre, then square) so a large mean cannot cancel the variance away.
            TensorPrimitives.Subtract(x.Slice(r, dim), mean, output);
            float scale = (float)(1.0 / Math.Sqrt(TensorPrimitives.SumOfSquares(output) / dim + (double)eps));
            TensorPrimitives.Multiply(output, scale, output);
            TensorPrimitives.FusedMultiplyAdd(output, weight, bias, output);
        }
    }

    static int CheckRows(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> dst)
    {
        int dim = weight.Length;
        if (dim == 0 || x.Length % dim != 0)
            throw new ArgumentException($"input of {x.Length} elements is not whole rows of {dim}");
        if (dst.Length != x.Length) throw new ArgumentException($"destination has {dst.Length} elements, input {x.Length}");
        return dim;
    }
}
