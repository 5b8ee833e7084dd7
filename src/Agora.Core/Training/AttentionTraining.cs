using System.Numerics.Tensors;
using Agora.Tensors.Kernels;

namespace Agora.Training;

/// <summary>
/// Causal grouped-query attention over a batch of sequences that keeps its attention weights for the backward
/// pass, and that backward pass. Same semantics as inference's CausalAttention (scale 1/√headDim, optional
/// sliding window, ALiBi bias slope·k on key position k); each sequence attends only within itself.
/// </summary>
static class AttentionTraining
{
    /// <param name="query">[sequences × length, heads × headDim]; key and value [sequences × length, kvHeads × headDim].</param>
    /// <param name="probabilities">[sequences, heads, length, length]; row (s, h, t) holds the weights of keys 0..t.</param>
    public static void Forward(float[] query, float[] key, float[] value, int sequences, int length, int heads, int kvHeads,
        int headDim, int window, float[] alibiSlopes, float[] probabilities, float[] output)
    {
        int group = heads / kvHeads;
        Parallel.For(0, sequences * heads, sh =>
        {
            int s = sh / heads, h = sh % heads;
            Forward(query, key, value, s, h, h / group, length, heads, kvHeads, headDim, window, alibiSlopes, probabilities, output);
        });
    }

    static void Forward(float[] query, float[] key, float[] value, int s, int h, int kvHead, int length, int heads, int kvHeads,
        int headDim, int window, float[] alibiSlopes, float[] probabilities, float[] output)
    {
        int qRow = heads * headDim, kvRow = kvHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        for (int t = 0; t < length; t++)
        {
            var p = probabilities.AsSpan(((s * heads + h) * length + t) * length, length);
            p.Clear();
            int first = window > 0 ? Math.Max(0, t + 1 - window) : 0;
            var q = query.AsSpan((s * length + t) * qRow + h * headDim, headDim);
            for (int k = first; k <= t; k++)
            {
                p[k] = TensorPrimitives.Dot(q, key.AsSpan((s * length + k) * kvRow + kvHead * headDim, headDim)) * scale;
                if (alibiSlopes.Length > 0) p[k] += alibiSlopes[h] * k;
            }
            Activations.Softmax(p[first..(t + 1)]);
            var o = output.AsSpan((s * length + t) * qRow + h * headDim, headDim);
            o.Clear();
            for (int k = first; k <= t; k++)
                TensorPrimitives.MultiplyAdd(value.AsSpan((s * length + k) * kvRow + kvHead * headDim, headDim), p[k], o, o);
        }
    }

    /// <summary>
    /// From dOutput, writes dQuery, dKey and dValue (same layouts as the inputs). Work splits over (sequence, KV head),
    /// so each key and value gradient row has one writer and the result does not depend on the thread count.
    /// </summary>
    public static void Backward(float[] query, float[] key, float[] value, float[] probabilities, float[] dOutput,
        int sequences, int length, int heads, int kvHeads, int headDim, float[] dQuery, float[] dKey, float[] dValue)
    {
        int group = heads / kvHeads, qRow = heads * headDim, kvRow = kvHeads * headDim;
        float scale = 1f / MathF.Sqrt(headDim);
        Array.Clear(dKey);
        Array.Clear(dValue);
        Parallel.For(0, sequences * kvHeads, sk =>
        {
            int s = sk / kvHeads, kvHead = sk % kvHeads;
            var dp = new float[length];
            for (int h = kvHead * group; h < (kvHead + 1) * group; h++)
                for (int t = 0; t < length; t++)
                {
                    var p = probabilities.AsSpan(((s * heads + h) * length + t) * length, t + 1);
                    var dout = dOutput.AsSpan((s * length + t) * qRow + h * headDim, headDim);
                    var q = query.AsSpan((s * length + t) * qRow + h * headDim, headDim);
                    var dq = dQuery.AsSpan((s * length + t) * qRow + h * headDim, headDim);
                    dq.Clear();
                    double weighted = 0;
                    for (int k = 0; k <= t; k++)
                    {
                        if (p[k] == 0) { dp[k] = 0; continue; }
                        int kv = (s * length + k) * kvRow + kvHead * headDim;
                        dp[k] = TensorPrimitives.Dot(dout, value.AsSpan(kv, headDim));
                        weighted += (double)p[k] * dp[k];
                        TensorPrimitives.MultiplyAdd(dout, p[k], dValue.AsSpan(kv, headDim), dValue.AsSpan(kv, headDim));
                    }
                    for (int k = 0; k <= t; k++)
                    {
                        if (p[k] == 0) continue;
                        int kv = (s * length + k) * kvRow + kvHead * headDim;
                        float dScore = p[k] * (dp[k] - (float)weighted) * scale;
                        TensorPrimitives.MultiplyAdd(key.AsSpan(kv, headDim), dScore, dq, dq);
                        TensorPrimitives.MultiplyAdd(q, dScore, dKey.AsSpan(kv, headDim), dKey.AsSpan(kv, headDim));
                    }
                }
        });
    }
}
