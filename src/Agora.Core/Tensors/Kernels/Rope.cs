namespace Agora.Tensors.Kernels;

/// <summary>Which elements of a head rotary embeddings rotate together.</summary>
public enum RopeLayout
{
    /// <summary>Rotate-half (GPT-NeoX, Hugging Face's default): pairs (i, i + d/2).</summary>
    NeoX,
    /// <summary>Adjacent pairs (2i, 2i + 1), llama.cpp's "normal" mode (its GGUF LLaMA files have Q/K permuted for it).</summary>
    Interleaved,
}

public enum RopeScalingKind { None, Linear, Llama3 }

/// <summary>
/// A <c>rope_scaling</c> entry of a Hugging Face config. <see cref="Factor"/> serves both kinds; the other fields are
/// llama3's (<c>low_freq_factor</c>, <c>high_freq_factor</c>, <c>original_max_position_embeddings</c>).
/// </summary>
public sealed record RopeScaling(RopeScalingKind Kind, float Factor, float LowFreqFactor = 1f, float HighFreqFactor = 4f,
    int OriginalMaxPositionEmbeddings = 8192)
{
    public static readonly RopeScaling None = new(RopeScalingKind.None, 1f);
}

/// <summary>
/// Rotary position embeddings. Inverse frequencies and angles are formed in float32 the way transformers forms
/// them (it computes cos/sin in float32 even for a float64 model), so positions far from zero agree too.
/// </summary>
public static class Rope
{
    /// <summary>
    /// θ_i = 1 / theta^(2i / rotaryDim) for i &lt; rotaryDim/2, then scaled: <c>linear</c> divides by the factor;
    /// <c>llama3</c> follows transformers' <c>_compute_llama3_parameters</c> step for step.
    /// </summary>
    public static float[] InverseFrequencies(int rotaryDim, float theta, RopeScaling? scaling = null)
    {
        if (rotaryDim <= 0 || rotaryDim % 2 != 0) throw new ArgumentException($"rotary dimension {rotaryDim} must be positive and even");
        if (!(theta > 0)) throw new ArgumentException($"rope theta {theta} must be positive");
        var inv = new float[rotaryDim / 2];
        for (int i = 0; i < inv.Length; i++)
        {
            float exponent = (float)(2 * i) / rotaryDim;
            inv[i] = 1f / (float)Math.Pow(theta, exponent);
        }
        scaling ??= RopeScaling.None;
        switch (scaling.Kind)
        {
            case RopeScalingKind.Linear:
                for (int i = 0; i < inv.Length; i++) inv[i] /= scaling.Factor;
                break;
            case RopeScalingKind.Llama3:
                ApplyLlama3(inv, scaling);
                break;
        }
        return inv;
    }

    // torch evaluates `scalar / tensor` as tensor.reciprocal() * scalar, and casts Python scalars to float32; so here.
    static void ApplyLlama3(float[] inv, RopeScaling s)
    {
        float factor = s.Factor, low = s.LowFreqFactor, high = s.HighFreqFactor;
        double oldContext = s.OriginalMaxPositionEmbeddings;
        float lowFreqWavelen = (float)(oldContext / low);
        float highFreqWavelen = (float)(oldContext / high);
        float smoothDivisor = (float)((double)high - low);
        for (int i = 0; i < inv.Length; i++)
        {
            float wavelen = 1f / inv[i] * (float)(2 * Math.PI);
            float scaled = wavelen > lowFreqWavelen ? inv[i] / factor : inv[i];
            float smooth = (1f / wavelen * (float)oldContext - low) / smoothDivisor;
            float smoothed = (1f - smooth) * scaled / factor + smooth * scaled;
            bool medium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen);
            inv[i] = medium ? smoothed : scaled;
        }
    }

    /// <summary>
    /// Rotates, in place, every head of <paramref name="tokens"/> consecutive tokens (token t at position
    /// <paramref name="startPosition"/> + t). Each token's row is heads × <paramref name="headDim"/>; the first
    /// 2·invFreq.Length elements of each head rotate (partial rotary leaves the rest).
    /// </summary>
    public static void Apply(Span<float> x, int tokens, int headDim, int startPosition, ReadOnlySpan<float> invFreq, RopeLayout layout)
    {
        int half = invFreq.Length;
        if (tokens <= 0 || headDim <= 0 || x.Length % ((long)tokens * headDim) != 0)
            throw new ArgumentException($"{x.Length} elements are not {tokens} tokens of whole {headDim}-element heads");
        if (2 * half > headDim || half == 0) throw new ArgumentException($"{invFreq.Length} frequencies do not fit a {headDim}-element head");
        if (startPosition < 0) throw new ArgumentException($"position {startPosition} is negative");
        int rowLength = x.Length / tokens;
        Span<float> cos = half <= 256 ? stackalloc float[half] : new float[half];
        Span<float> sin = half <= 256 ? stackalloc float[half] : new float[half];
        for (int t = 0; t < tokens; t++)
        {
            float position = startPosition + t;
            for (int i = 0; i < half; i++)
            {
                float angle = position * invFreq[i];
                cos[i] = (float)Math.Cos(angle);
                sin[i] = (float)Math.Sin(angle);
            }
            var row = x.Slice(t * rowLength, rowLength);
            for (int h = 0; h < rowLength; h += headDim)
            {
                var head = row.Slice(h, headDim);
                if (layout == RopeLayout.NeoX)
                    for (int i = 0; i < half; i++)
                    {
                        float a = head[i], b = head[i + half];
                        head[i] = a * cos[i] - b * sin[i];
                        head[i + half] = b * cos[i] + a * sin[i];
                    }
                else
                    for (int i = 0; i < half; i++)
                    {
                        float a = head[2 * i], b = head[2 * i + 1];
                        head[2 * i] = a * cos[i] - b * sin[i];
                        head[2 * i + 1] = a * sin[i] + b * cos[i];
                    }
            }
        }
    }
}
