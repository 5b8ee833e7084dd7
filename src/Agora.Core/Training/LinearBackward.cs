using System.Numerics.Tensors;
using Agora.Adapters;
using Agora.Models;
using Agora.Tensors;

namespace Agora.Training;

/// <summary>
/// The backward pass of one linear layer y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ: the input gradient through the frozen weight
/// (any element type the model reads) and its low-rank delta, and the gradients of whatever is trained:
/// LoRA's A and B, and, when fully fine-tuning, W and b. Every product runs on <see cref="TrainingProducts"/>.
/// </summary>
sealed unsafe class LinearBackward
{
    readonly LinearLayer _layer;
    readonly LowRankDelta? _delta;
    readonly TrainableParameter? _loraA, _loraB, _weight, _bias;

    public LinearLayer Layer => _layer;

    public LinearBackward(LinearLayer layer, TrainableParameter? loraA, TrainableParameter? loraB,
        TrainableParameter? weight = null, TrainableParameter? bias = null)
    {
        _layer = layer;
        _delta = layer.Deltas.Count == 1 ? layer.Deltas[0] : null;
        if ((loraA != null || loraB != null) && _delta == null)
            throw new InvalidOperationException($"{layer.Name}: LoRA gradients need exactly one delta on the layer");
        _loraA = loraA;
        _loraB = loraB;
        _weight = weight;
        _bias = bias;
    }

    /// <summary>
    /// Writes dx [tokens, In] for dy [tokens, Out] and input x [tokens, In], and accumulates the trained gradients.
    /// <paramref name="scratch"/> holds at least 2 × tokens × the layer's <see cref="LinearLayer.MaxRank"/> values.
    /// </summary>
    public void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx, int tokens, Span<float> scratch)
    {
        int inDim = _layer.In, outDim = _layer.Out;
        x = x[..(tokens * inDim)];
        dy = dy[..(tokens * outDim)];
        dx = dx[..(tokens * inDim)];
        // dx = dy·W: A(t, o) = dy[t, o], B = W [Out, In].
        dx.Clear();
        TrainingProducts.MultiplyAdd(dy, outDim, 1, _layer.WeightPointer, _layer.WeightType, dx, tokens, outDim, inDim, 1f);
        fixed (float* xp = x)
        {
            // dW[o, :] += Σₜ dy[t, o]·x[t, :]: A(o, t) = dy[t, o], B = x.
            if (_weight != null)
                TrainingProducts.MultiplyAdd(dy, 1, outDim, (byte*)xp, GgmlType.F32, _weight.Gradient, outDim, tokens, inDim, 1f);
            if (_bias != null)
                for (int t = 0; t < tokens; t++)
                    TensorPrimitives.Add(_bias.Gradient, dy.Slice(t * outDim, outDim), _bias.Gradient);
            for (int i = 0; i < _layer.Deltas.Count; i++)
            {
                var d = _layer.Deltas[i];
                int rank = d.Rank;
                float s = d.Scale;
                var u = scratch[..(tokens * rank)];
                var g = scratch.Slice(tokens * rank, tokens * rank);
                fixed (float* a = d.A) fixed (float* b = d.B) fixed (float* up = u)
                {
                    // u = x·Aᵀ [tokens, rank] (as the forward computed it); g = dy·B [tokens, rank].
                    u.Clear();
                    TrainingProducts.MultiplyTransposedAdd(x, (byte*)a, GgmlType.F32, u, tokens, inDim, rank, 1f);
                    g.Clear();
                    TrainingProducts.MultiplyAdd(dy, outDim, 1, (byte*)b, GgmlType.F32, g, tokens, outDim, rank, 1f);
                    if (ReferenceEquals(d, _delta))
                    {
                        // dB[o, :] += s·Σₜ dy[t, o]·u[t, :]; dA[r, :] += s·Σₜ g[t, r]·x[t, :].
                        if (_loraB != null)
                            TrainingProducts.MultiplyAdd(dy, 1, outDim, (byte*)up, GgmlType.F32, _loraB.Gradient, outDim, tokens, rank, s);
                        if (_loraA != null)
                            TrainingProducts.MultiplyAdd(g, 1, rank, (byte*)xp, GgmlType.F32, _loraA.Gradient, rank, tokens, inDim, s);
                    }
                    // dx += s·g·A.
                    TrainingProducts.MultiplyAdd(g, rank, 1, (byte*)a, GgmlType.F32, dx, tokens, rank, inDim, s);
                }
            }
        }
    }
}
