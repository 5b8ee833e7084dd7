using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Agora.Adapters;
using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;

namespace Agora.Models;

/// <summary>
/// A linear layer as the open models have it: a frozen weight W [Out, In] in any supported element type (read in
/// place from the checkpoint's memory map, or an owned float32 copy when deltas were merged into it), an optional
/// bias, and zero or more low-rank deltas applied on the fly: y = W x + b + Σ scale·B(A x).
/// </summary>
public sealed unsafe class LinearLayer
{
    readonly byte* _weight;
    readonly long _weightBytes;
    // Keeps a merged weight alive; it is allocated pinned, so _weight stays valid.
    readonly float[]? _ownedWeight;
    readonly float[]? _bias;
    readonly LowRankDelta[] _deltas;

    /// <summary>The Hugging Face name of the weight (<c>model.layers.0.self_attn.q_proj.weight</c>).</summary>
    public string Name { get; }
    public GgmlType WeightType { get; }
    public int In { get; }
    public int Out { get; }
    public IReadOnlyList<LowRankDelta> Deltas => _deltas;
    /// <summary>The largest rank among the unmerged deltas (0 when none): the scratch a call needs per token.</summary>
    public int MaxRank { get; }
    // What training's backward reads (Agora.Training): the frozen weight's bytes and the bias.
    internal byte* WeightPointer => _weight;
    internal float[]? Bias => _bias;
    /// <summary>The owned float32 weight (merged, or loaded for training all weights), or null when read in place.</summary>
    internal float[]? OwnedWeight => _ownedWeight;

    internal LinearLayer(string name, byte* weight, long weightBytes, GgmlType type, int inFeatures, int outFeatures,
        float[]? bias, LowRankDelta[] deltas, float[]? ownedWeight = null)
    {
        Name = name;
        _weight = weight;
        _weightBytes = weightBytes;
        WeightType = type;
        In = inFeatures;
        Out = outFeatures;
        _bias = bias;
        _deltas = deltas;
        _ownedWeight = ownedWeight;
        MaxRank = deltas.Length == 0 ? 0 : deltas.Max(d => d.Rank);
    }

    /// <summary>
    /// A float32 copy of <paramref name="weight"/> with every delta folded in (W + scale·B·A), owning its memory.
    /// </summary>
    internal static LinearLayer Merged(string name, byte* weight, GgmlType type, int inFeatures, int outFeatures,
        float[]? bias, IReadOnlyList<LowRankDelta> deltas)
    {
        var merged = WeightLoader.Dequantized(weight, type, outFeatures, inFeatures);
        foreach (var d in deltas) d.MergeInto(merged);
        byte* pointer = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(merged));
        return new LinearLayer(name, pointer, (long)merged.Length * sizeof(float), GgmlType.F32, inFeatures, outFeatures, bias, [], merged);
    }

    /// <summary>
    /// y = x·Wᵀ + b + Σ scale·(x·Aᵀ)·Bᵀ for <paramref name="tokens"/> rows of x. <paramref name="rankScratch"/> holds
    /// at least tokens × <see cref="MaxRank"/> values and <paramref name="outScratch"/> tokens × <see cref="Out"/>
    /// when the layer has deltas (unused otherwise).
    /// </summary>
    public void Forward(ReadOnlySpan<float> x, Span<float> y, int tokens, Span<float> rankScratch, Span<float> outScratch)
    {
        MatrixProduct.MatMul(x, _weight, _weightBytes, WeightType, y, tokens, In, Out);
        AddBiasAndDeltas(x, y, tokens, rankScratch, outScratch);
    }

    /// <summary>
    /// The forward passes of layers that read the same input (Q, K and V; gate and up): for one token, their
    /// weights' rows run as one product, with the input quantized once (<see cref="SingleTokenProduct"/>).
    /// </summary>
    internal static void Forward(ReadOnlySpan<float> x, int tokens, Span<float> rankScratch, Span<float> outScratch,
        LinearLayer first, Span<float> firstY, LinearLayer second, Span<float> secondY, LinearLayer? third = null, Span<float> thirdY = default)
    {
        if (tokens != 1)
        {
            first.Forward(x, firstY, tokens, rankScratch, outScratch);
            second.Forward(x, secondY, tokens, rankScratch, outScratch);
            third?.Forward(x, thirdY, tokens, rankScratch, outScratch);
            return;
        }
        first.CheckShapes(x, firstY);
        second.CheckShapes(x, secondY);
        third?.CheckShapes(x, thirdY);
        if (second.In != first.In || (third != null && third.In != first.In))
            throw new ArgumentException($"{first.Name}, {second.Name}{(third != null ? ", " + third.Name : "")} do not read inputs of one size");
        fixed (float* y0 = firstY) fixed (float* y1 = secondY) fixed (float* y2 = thirdY)
        {
            ReadOnlySpan<ProductSegment> segments = [first.Segment(y0), second.Segment(y1), third?.Segment(y2) ?? default];
            SingleTokenProduct.Run(x, third != null ? segments : segments[..2], first.In, Simd.Best, Tensors.Threading.WorkerPool.Shared);
        }
        first.AddBiasAndDeltas(x, firstY, 1, rankScratch, outScratch);
        second.AddBiasAndDeltas(x, secondY, 1, rankScratch, outScratch);
        third?.AddBiasAndDeltas(x, thirdY, 1, rankScratch, outScratch);
    }

    ProductSegment Segment(float* y) => new(_weight, WeightType, Out, y);

    void CheckShapes(ReadOnlySpan<float> x, Span<float> y)
    {
        if (x.Length != In || y.Length != Out)
            throw new ArgumentException($"{Name}: one token's input has {x.Length} elements and output {y.Length}, the layer maps {In} → {Out}");
    }

    void AddBiasAndDeltas(ReadOnlySpan<float> x, Span<float> y, int tokens, Span<float> rankScratch, Span<float> outScratch)
    {
        if (_bias != null)
            for (int t = 0; t < tokens; t++)
            {
                var row = y.Slice(t * Out, Out);
                TensorPrimitives.Add(row, _bias, row);
            }
        foreach (var d in _deltas)
        {
            var ax = rankScratch[..(tokens * d.Rank)];
            var bax = outScratch[..(tokens * Out)];
            MatrixProduct.MatMul(x, MemoryMarshal.AsBytes(d.A.AsSpan()), GgmlType.F32, ax, tokens, In, d.Rank);
            MatrixProduct.MatMul(ax, MemoryMarshal.AsBytes(d.B.AsSpan()), GgmlType.F32, bax, tokens, d.Rank, Out);
            TensorPrimitives.MultiplyAdd(bax, d.Scale, y[..(tokens * Out)], y[..(tokens * Out)]);
        }
    }

    public override string ToString() => $"{Name} {WeightType} [{Out}, {In}]" + (_deltas.Length > 0 ? $" + {_deltas.Length} deltas" : "");
}
