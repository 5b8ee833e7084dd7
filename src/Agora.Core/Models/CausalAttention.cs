using System.Numerics.Tensors;
using Agora.Tensors.Kernels;

namespace Agora.Models;

/// <summary>
/// Scaled dot-product attention of new queries over a sequence's cached keys and values, with the causal mask
/// (query at position p sees keys 0..p, or only the last <c>window</c> of them), grouped-query sharing (each KV
/// head serves HeadCount / KvHeadCount consecutive query heads) and, for ALiBi models, the bias slope·k on key position k.
/// </summary>
static class CausalAttention
{
    /// <param name="query">[tokens, heads × headDim]; token t sits at position start + t.</param>
    /// <param name="keys">[start + tokens, kvHeads × headDim] (the cache, new tokens included); likewise values.</param>
    /// <param name="window">Sliding window: a query sees itself and the window − 1 keys before it; 0 for none.</param>
    /// <param name="alibiSlopes">One slope per head, or empty for none.</param>
    /// <param name="scores">At least start + tokens values of scratch.</param>
    /// <param name="output">[tokens, heads × headDim].</param>
    public static void Compute(ReadOnlySpan<float> query, ReadOnlySpan<float> keys, ReadOnlySpan<float> values,
        int tokens, int start, int heads, int kvHeads, int headDim, int window, ReadOnlySpan<float> alibiSlopes,
        Span<float> scores, Span<float> output)
    {
        int queryRow = heads * headDim, kvRow = kvHeads * headDim, group = heads / kvHeads;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int t = 0; t < tokens; t++)
        {
            int visible = start + t + 1;
            int first = window > 0 ? Math.Max(0, visible - window) : 0;
            var weights = scores[first..visible];
            for (int h = 0; h < heads; h++)
            {
                var q = query.Slice(t * queryRow + h * headDim, headDim);
                int kvOffset = h / group * headDim;
                for (int k = first; k < visible; k++)
                    weights[k - first] = TensorPrimitives.Dot(q, keys.Slice(k * kvRow + kvOffset, headDim)) * scale;
                if (!alibiSlopes.IsEmpty)
                    for (int k = first; k < visible; k++) weights[k - first] += alibiSlopes[h] * k;
                Activations.Softmax(weights);
                var o = output.Slice(t * queryRow + h * headDim, headDim);
                o.Clear();
                for (int k = first; k < visible; k++)
                    TensorPrimitives.MultiplyAdd(values.Slice(k * kvRow + kvOffset, headDim), weights[k - first], o, o);
            }
        }
    }
}
