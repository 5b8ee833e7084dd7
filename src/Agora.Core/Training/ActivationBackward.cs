using System.Numerics;

namespace Agora.Training;

/// <summary>Backward passes of the feed-forward activations, element by element from the saved pre-activations (SIMD, scalar tail).</summary>
static class ActivationBackward
{
    /// <summary>y = silu(g)·u: du = dy·silu(g), dg = dy·u·σ(g)·(1 + g·(1 − σ(g))).</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dy, Span<float> dGate, Span<float> dUp)
    {
        int i = 0, v = Vector<float>.Count;
        for (; i <= gate.Length - v; i += v)
        {
            var g = new Vector<float>(gate[i..]);
            var d = new Vector<float>(dy[i..]);
            var sigmoid = Vector<float>.One / (Vector<float>.One + Vector.Exp(-g));
            (d * g * sigmoid).CopyTo(dUp[i..]);
            (d * new Vector<float>(up[i..]) * sigmoid * (Vector<float>.One + g * (Vector<float>.One - sigmoid))).CopyTo(dGate[i..]);
        }
        for (; i < gate.Length; i++)
        {
            float g = gate[i], sigmoid = 1f / (1f + MathF.Exp(-g));
            dUp[i] = dy[i] * g * sigmoid;
            dGate[i] = dy[i] * up[i] * sigmoid * (1f + g * (1f - sigmoid));
        }
    }

    const float SqrtTwoOverPi = 0.7978845608028654f, Cubic = 0.044715f;

    /// <summary>
    /// y = ½x(1 + tanh(c(x + 0.044715x³))): dx = dy·(½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²)), with
    /// tanh(a) = 1 − 2 / (e^{2a} + 1) (exact limits when e^{2a} overflows or underflows).
    /// </summary>
    public static void GeluTanh(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        int i = 0, v = Vector<float>.Count;
        var one = Vector<float>.One;
        var half = new Vector<float>(0.5f);
        for (; i <= x.Length - v; i += v)
        {
            var value = new Vector<float>(x[i..]);
            var squared = value * value;
            var t = one - new Vector<float>(2f) / (Vector.Exp(new Vector<float>(2 * SqrtTwoOverPi) * (value + new Vector<float>(Cubic) * squared * value)) + one);
            var derivative = half * (one + t) + half * value * (one - t * t) * new Vector<float>(SqrtTwoOverPi) * (one + new Vector<float>(3 * Cubic) * squared);
            (new Vector<float>(dy[i..]) * derivative).CopyTo(dx[i..]);
        }
        for (; i < x.Length; i++)
        {
            float value = x[i], t = MathF.Tanh(SqrtTwoOverPi * (value + Cubic * value * value * value));
            dx[i] = dy[i] * (0.5f * (1f + t) + 0.5f * value * (1f - t * t) * SqrtTwoOverPi * (1f + 3f * Cubic * value * value));
        }
    }
}
