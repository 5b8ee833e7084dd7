namespace Agora.Training;

/// <summary>Backward passes of the feed-forward activations, element by element from the saved pre-activations.</summary>
static class ActivationBackward
{
    /// <summary>y = silu(g)·u: du = dy·silu(g), dg = dy·u·σ(g)·(1 + g·(1 − σ(g))).</summary>
    public static void SwiGlu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, ReadOnlySpan<float> dy, Span<float> dGate, Span<float> dUp)
    {
        for (int i = 0; i < gate.Length; i++)
        {
            float g = gate[i], sigmoid = 1f / (1f + MathF.Exp(-g));
            dUp[i] = dy[i] * g * sigmoid;
            dGate[i] = dy[i] * up[i] * sigmoid * (1f + g * (1f - sigmoid));
        }
    }

    const float SqrtTwoOverPi = 0.7978845608028654f, Cubic = 0.044715f;

    /// <summary>y = ½x(1 + tanh(c(x + 0.044715x³))): dx = dy·(½(1 + t) + ½x(1 − t²)·c(1 + 3·0.044715x²)).</summary>
    public static void GeluTanh(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx)
    {
        for (int i = 0; i < x.Length; i++)
        {
            float v = x[i], t = MathF.Tanh(SqrtTwoOverPi * (v + Cubic * v * v * v));
            dx[i] = dy[i] * (0.5f * (1f + t) + 0.5f * v * (1f - t * t) * SqrtTwoOverPi * (1f + 3f * Cubic * v * v));
        }
    }
}
