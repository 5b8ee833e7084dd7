using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Agora.Tensors.Kernels;

/// <summary>Activation functions and elementwise arithmetic over float spans. Destinations may alias sources exactly.</summary>
public static class Activations
{
    /// <summary>SiLU (swish): x·σ(x).</summary>
    public static void Silu(ReadOnlySpan<float> x, Span<float> dst) => Silu(x, dst, Simd.Best);

    /// <summary>
    /// GELU with the tanh approximation, as PyTorch's <c>gelu(approximate="tanh")</c> (HF <c>gelu_pytorch_tanh</c>)
    /// and BLOOM's <c>bloom_gelu_forward</c>: ½x(1 + tanh(√(2/π)(x + 0.044715x³))).
    /// </summary>
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> dst) => GeluTanh(x, dst, Simd.Best);

    /// <summary>The SwiGLU gate of LLaMA's MLP: SiLU(gate)·up.</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst) => SwiGlu(gate, up, dst, Simd.Best);

    /// <summary>dst = a + b (exact in every path, so TensorPrimitives serves).</summary>
    public static void Add(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        CheckSameLength(a, b, dst);
        TensorPrimitives.Add(a, b, dst);
    }

    /// <summary>dst = a · b elementwise.</summary>
    public static void Multiply(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        CheckSameLength(a, b, dst);
        TensorPrimitives.Multiply(a, b, dst);
    }

    /// <summary>Numerically stable softmax in place: exp(x − max) / Σ. Entries of −∞ (masked) become 0.</summary>
    public static void Softmax(Span<float> x)
    {
        if (x.IsEmpty) return;
        float max = TensorPrimitives.Max(x);
        TensorPrimitives.Subtract(x, max, x);
        TensorPrimitives.Exp(x, x);
        TensorPrimitives.Multiply(x, 1f / TensorPrimitives.Sum(x), x);
    }

    internal static void Silu(ReadOnlySpan<float> x, Span<float> dst, SimdWidth width) => ElementwiseDriver.Map<SiluOperator>(x, dst, width);
    internal static void GeluTanh(ReadOnlySpan<float> x, Span<float> dst, SimdWidth width) => ElementwiseDriver.Map<GeluTanhOperator>(x, dst, width);
    internal static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> dst, SimdWidth width) =>
        ElementwiseDriver.Map<SwiGluOperator>(gate, up, dst, width);

    static void CheckSameLength(ReadOnlySpan<float> a, ReadOnlySpan<float> b, Span<float> dst)
    {
        if (b.Length != a.Length || dst.Length != a.Length)
            throw new ArgumentException($"operand lengths differ: {a.Length}, {b.Length}, destination {dst.Length}");
    }

    // x·σ(x) written as x / (1 + e^−x): e^−x overflowing to +∞ gives the right limit (−0) for very negative x.
    readonly struct SiluOperator : IUnaryOperator
    {
        public static float Invoke(float x) => x / (1f + MathF.Exp(-x));
        public static Vector128<float> Invoke(Vector128<float> x) => x / (Vector128<float>.One + Vector128.Exp(-x));
        public static Vector256<float> Invoke(Vector256<float> x) => x / (Vector256<float>.One + Vector256.Exp(-x));
        public static Vector512<float> Invoke(Vector512<float> x) => x / (Vector512<float>.One + Vector512.Exp(-x));
    }

    // ½(1 + tanh u) = σ(2u), so GELU = x / (1 + e^(−2u)): no tanh needed and no cancellation for negative x.
    readonly struct GeluTanhOperator : IUnaryOperator
    {
        const float MinusTwoSqrtTwoOverPi = -1.5957691216057308f; // −2·√(2/π)
        const float Cubic = 0.044715f;

        public static float Invoke(float x) => x / (1f + MathF.Exp(MinusTwoSqrtTwoOverPi * (x + Cubic * x * x * x)));

        public static Vector128<float> Invoke(Vector128<float> x) =>
            x / (Vector128<float>.One + Vector128.Exp(Vector128.Create(MinusTwoSqrtTwoOverPi) * (x + Vector128.Create(Cubic) * x * x * x)));

        public static Vector256<float> Invoke(Vector256<float> x) =>
            x / (Vector256<float>.One + Vector256.Exp(Vector256.Create(MinusTwoSqrtTwoOverPi) * (x + Vector256.Create(Cubic) * x * x * x)));

        public static Vector512<float> Invoke(Vector512<float> x) =>
            x / (Vector512<float>.One + Vector512.Exp(Vector512.Create(MinusTwoSqrtTwoOverPi) * (x + Vector512.Create(Cubic) * x * x * x)));
    }

    readonly struct SwiGluOperator : IBinaryOperator
    {
        public static float Invoke(float g, float u) => SiluOperator.Invoke(g) * u;
        public static Vector128<float> Invoke(Vector128<float> g, Vector128<float> u) => SiluOperator.Invoke(g) * u;
        public static Vector256<float> Invoke(Vector256<float> g, Vector256<float> u) => SiluOperator.Invoke(g) * u;
        public static Vector512<float> Invoke(Vector512<float> g, Vector512<float> u) => SiluOperator.Invoke(g) * u;
    }
}
