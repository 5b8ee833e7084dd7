using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Agora.Adapters;
using Agora.Models;
using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;

namespace Agora.Training;

/// <summary>
/// The backward pass of one linear layer y = x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ: the input gradient through the frozen weight
/// (any element type the model reads) and its low-rank delta, and the gradients of whatever is trained:
/// LoRA's A and B, and, when fully fine-tuning, W and b.
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
    /// </summary>
    public void Backward(float[] x, float[] dy, float[] dx, int tokens)
    {
        int inDim = _layer.In, outDim = _layer.Out;
        InputGradient(dy, dx, tokens);
        if (_weight != null) AccumulateOuter(dy, x, _weight.Gradient, tokens, outDim, inDim, 1f);
        if (_bias != null)
            for (int t = 0; t < tokens; t++)
                TensorPrimitives.Add(_bias.Gradient, dy.AsSpan(t * outDim, outDim), _bias.Gradient);
        foreach (var d in _layer.Deltas)
        {
            int rank = d.Rank;
            float s = d.Scale;
            // u = x·Aᵀ [tokens, rank]; g = dy·B [tokens, rank]
            var u = new float[tokens * rank];
            MatrixProduct.MatMul(x, MemoryMarshal.AsBytes(d.A.AsSpan()), GgmlType.F32, u, tokens, inDim, rank);
            var g = new float[tokens * rank];
            for (int t = 0; t < tokens; t++)
            {
                var dyRow = dy.AsSpan(t * outDim, outDim);
                var gRow = g.AsSpan(t * rank, rank);
                for (int o = 0; o < outDim; o++)
                    if (dyRow[o] != 0) TensorPrimitives.MultiplyAdd(d.B.AsSpan(o * rank, rank), dyRow[o], gRow, gRow);
            }
            if (ReferenceEquals(d, _delta))
            {
                if (_loraB != null) AccumulateOuter(dy, u, _loraB.Gradient, tokens, outDim, rank, s);
                if (_loraA != null) AccumulateOuter(g, x, _loraA.Gradient, tokens, rank, inDim, s);
            }
            for (int t = 0; t < tokens; t++)
            {
                var dxRow = dx.AsSpan(t * inDim, inDim);
                for (int r = 0; r < rank; r++)
                    TensorPrimitives.MultiplyAdd(d.A.AsSpan(r * inDim, inDim), s * g[t * rank + r], dxRow, dxRow);
            }
        }
    }

    /// <summary>dx = dy·W, one dequantized row of W at a time, token ranges split over threads (each dx row has one writer).</summary>
    void InputGradient(float[] dy, float[] dx, int tokens)
    {
        int inDim = _layer.In, outDim = _layer.Out;
        var type = _layer.WeightType;
        long rowBytes = GgmlTypeInfo.ByteSize(type, inDim);
        nint weight = (nint)_layer.WeightPointer;
        Array.Clear(dx, 0, tokens * inDim);
        int chunks = Math.Min(tokens, (long)tokens * inDim * outDim < 1 << 18 ? 1 : Environment.ProcessorCount);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, chunk =>
        {
            int first = (int)((long)tokens * chunk / chunks), end = (int)((long)tokens * (chunk + 1) / chunks);
            var row = new float[inDim];
            for (int o = 0; o < outDim; o++)
            {
                Quants.Dequantize(type, new ReadOnlySpan<byte>((byte*)weight + o * rowBytes, (int)rowBytes), row);
                for (int t = first; t < end; t++)
                {
                    float g = dy[t * outDim + o];
                    if (g != 0) TensorPrimitives.MultiplyAdd(row, g, dx.AsSpan(t * inDim, inDim), dx.AsSpan(t * inDim, inDim));
                }
            }
        });
    }

    /// <summary>grad[o, :] += scale · Σₜ a[t, o] · b[t, :], rows of grad split over threads.</summary>
    internal static void AccumulateOuter(float[] a, float[] b, float[] grad, int tokens, int rows, int columns, float scale)
    {
        int chunks = (long)tokens * rows * columns < 1 << 16 ? 1 : Math.Min(rows, Environment.ProcessorCount);
        Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks }, chunk =>
        {
            int first = (int)((long)rows * chunk / chunks), end = (int)((long)rows * (chunk + 1) / chunks);
            for (int o = first; o < end; o++)
            {
                var target = grad.AsSpan(o * columns, columns);
                for (int t = 0; t < tokens; t++)
                {
                    float g = a[t * rows + o] * scale;
                    if (g != 0) TensorPrimitives.MultiplyAdd(b.AsSpan(t * columns, columns), g, target, target);
                }
            }
        });
    }
}
