namespace Agora.Tensors.Kernels;

/// <summary>ALiBi (Press et al.) head slopes, as Hugging Face BLOOM's <c>build_alibi_tensor</c> computes them.</summary>
public static class Alibi
{
    /// <summary>
    /// For n heads and p the largest power of two ≤ n: slopes b^1..b^p with b = 2^(−8/p); then, if n is not a power
    /// of two, the odd powers c^1, c^3, … of c = 2^(−4/p) for the remaining heads. Bases are rounded to float32 and
    /// raised in float32, as the reference does. The bias for key position k is slope·k.
    /// </summary>
    public static float[] Slopes(int heads)
    {
        if (heads <= 0) throw new ArgumentException($"head count {heads} must be positive");
        int p = 1 << (31 - int.LeadingZeroCount(heads));
        var slopes = new float[heads];
        float b = (float)Math.Pow(2, -Math.Pow(2, -(Math.Log2(p) - 3)));
        for (int i = 0; i < p; i++) slopes[i] = (float)Math.Pow(b, i + 1);
        if (p != heads)
        {
            float c = (float)Math.Pow(2, -Math.Pow(2, -(Math.Log2(2 * p) - 3)));
            for (int i = 0; i < heads - p; i++) slopes[p + i] = (float)Math.Pow(c, 2 * i + 1);
        }
        return slopes;
    }
}
