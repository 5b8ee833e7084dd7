using Agora.Models;
using Agora.Tensors.Kernels;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>
/// Training's attention against inference's (<see cref="CausalAttention"/>: causal mask, sliding window, ALiBi,
/// grouped KV heads), and its backward against central differences of Σ g·output, packed positions included.
/// </summary>
public sealed class AttentionTrainingTests
{
    const int Sequences = 2, Length = 37, Heads = 4, KvHeads = 2, HeadDim = 12;

    static float[] Random(Random random, int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1))];

    /// <summary>Two rows: examples of 20, 12 and 5 tokens, then 37.</summary>
    static int[] PackedPositions() =>
        [.. Enumerable.Range(0, 20), .. Enumerable.Range(0, 12), .. Enumerable.Range(0, 5), .. Enumerable.Range(0, Length)];

    public static TheoryData<int, bool> Variants() => new() { { 0, false }, { 5, false }, { 0, true }, { 40, true } };

    [Theory]
    [MemberData(nameof(Variants))]
    public void ForwardMatchesInference(int window, bool alibi)
    {
        var random = new Random(window + (alibi ? 100 : 0));
        var query = Random(random, Sequences * Length * Heads * HeadDim);
        var key = Random(random, Sequences * Length * KvHeads * HeadDim);
        var value = Random(random, key.Length);
        var slopes = alibi ? Alibi.Slopes(Heads) : [];
        var output = new float[query.Length];
        AttentionTraining.Forward(query, key, value, Sequences, Length, Heads, KvHeads, HeadDim, window, slopes, [],
            new float[Sequences * Heads * Length * Length], output);
        int q = Length * Heads * HeadDim, kv = Length * KvHeads * HeadDim;
        for (int s = 0; s < Sequences; s++)
        {
            var expected = new float[q];
            CausalAttention.Compute(query.AsSpan(s * q, q), key.AsSpan(s * kv, kv), value.AsSpan(s * kv, kv), Length, 0, Heads, KvHeads, HeadDim,
                window, slopes, new float[Length], expected);
            for (int i = 0; i < q; i++) Assert.True(Math.Abs(output[s * q + i] - expected[i]) < 1e-5, $"sequence {s}, element {i}: {output[s * q + i]} vs {expected[i]}");
        }
    }

    public static TheoryData<int, bool, bool> BackwardVariants() => new()
    {
        { 0, false, false }, { 6, false, false }, { 0, true, false }, { 0, false, true }, { 6, true, true },
    };

    [Theory]
    [MemberData(nameof(BackwardVariants))]
    public void BackwardMatchesCentralDifferences(int window, bool alibi, bool packed)
    {
        var random = new Random(7 + window);
        float[] query = Random(random, Sequences * Length * Heads * HeadDim), key = Random(random, Sequences * Length * KvHeads * HeadDim);
        float[] value = Random(random, key.Length), g = Random(random, query.Length);
        var slopes = alibi ? Alibi.Slopes(Heads) : [];
        int[] positions = packed ? PackedPositions() : [];
        var weights = new float[Sequences * Heads * Length * Length];
        var output = new float[query.Length];
        double Loss()
        {
            AttentionTraining.Forward(query, key, value, Sequences, Length, Heads, KvHeads, HeadDim, window, slopes, positions, weights, output);
            double sum = 0;
            for (int i = 0; i < output.Length; i++) sum += (double)g[i] * output[i];
            return sum;
        }
        Loss();
        float[] dQuery = new float[query.Length], dKey = new float[key.Length], dValue = new float[value.Length];
        AttentionTraining.Backward(query, key, value, weights, g, Sequences, Length, Heads, KvHeads, HeadDim, window, positions,
            new float[weights.Length], dQuery, dKey, dValue);

        foreach (var (name, x, gradient) in new[] { ("query", query, dQuery), ("key", key, dKey), ("value", value, dValue) })
        {
            var direction = Random(random, x.Length);
            double analytic = 0;
            for (int i = 0; i < x.Length; i++) analytic += (double)direction[i] * gradient[i];
            var original = (float[])x.Clone();
            double Central(double h)
            {
                for (int i = 0; i < x.Length; i++) x[i] = (float)(original[i] + h * direction[i]);
                double plus = Loss();
                for (int i = 0; i < x.Length; i++) x[i] = (float)(original[i] - h * direction[i]);
                double minus = Loss();
                original.CopyTo(x, 0);
                return (plus - minus) / (2 * h);
            }
            double numeric = (4 * Central(5e-3) - Central(1e-2)) / 3;
            Assert.True(Math.Abs(numeric - analytic) <= 1e-3 * Math.Max(1, Math.Abs(analytic)), $"{name}: analytic {analytic}, numeric {numeric}");
        }
    }

    [Fact]
    public void PackedExamplesAttendOnlyWithinThemselves()
    {
        var random = new Random(3);
        float[] query = Random(random, Sequences * Length * Heads * HeadDim), key = Random(random, Sequences * Length * KvHeads * HeadDim);
        var value = Random(random, key.Length);
        var weights = new float[Sequences * Heads * Length * Length];
        AttentionTraining.Forward(query, key, value, Sequences, Length, Heads, KvHeads, HeadDim, 0, [], PackedPositions(), weights, new float[query.Length]);
        var positions = PackedPositions();
        for (int s = 0; s < Sequences; s++)
            for (int h = 0; h < Heads; h++)
                for (int t = 0; t < Length; t++)
                {
                    int start = t - positions[s * Length + t];
                    var row = weights.AsSpan(((s * Heads + h) * Length + t) * Length, Length);
                    for (int k = 0; k < Length; k++)
                        Assert.True(k >= start && k <= t ? row[k] > 0 : row[k] == 0, $"sequence {s} head {h}: query {t}, key {k} has weight {row[k]}");
                    Assert.Equal(1.0, row.ToArray().Sum(v => (double)v), 5);
                }
    }
}
