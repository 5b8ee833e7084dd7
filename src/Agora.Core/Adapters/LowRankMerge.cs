using System.Numerics.Tensors;

namespace Agora.Adapters;

/// <summary>The one place a LoRA update is folded into a weight: W += Scale · B · A.</summary>
public static class LowRankMerge
{
    /// <summary>
    /// Adds <paramref name="delta"/> into <paramref name="weight"/>, float32 row-major [Out, In]. Row o gains
    /// Σ_r Scale·B[o, r] · A[r, :], accumulated row by row so no [Out, In] temporary is needed.
    /// </summary>
    public static void MergeInto(this LowRankDelta delta, Span<float> weight)
    {
        if (weight.Length != (long)delta.Out * delta.In)
            throw new ArgumentException($"the weight holds {weight.Length} values, not out {delta.Out} × in {delta.In}", nameof(weight));
        int rank = delta.Rank, inFeatures = delta.In;
        ReadOnlySpan<float> a = delta.A, b = delta.B;
        for (int o = 0; o < delta.Out; o++)
        {
            var row = weight.Slice(o * inFeatures, inFeatures);
            for (int r = 0; r < rank; r++)
            {
                float factor = delta.Scale * b[o * rank + r];
                if (factor != 0) TensorPrimitives.MultiplyAdd(a.Slice(r * inFeatures, inFeatures), factor, row, row);
            }
        }
    }
}
