using System.Runtime.InteropServices;
using Agora.Tensors;
using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>
/// Training's tiled products against float64 sums over the dequantized weights: shapes that leave partial tiles, partial
/// vectors and scalar tails, weights in F32, F16 and Q8_0, A read row- or column-major; and the same bits on 1, 2 or 3 threads.
/// </summary>
public sealed unsafe class TrainingProductsTests
{
    static readonly WorkerPool[] Pools = [new(1), new(2), new(3)];

    static float[] Random(Random random, int n) => [.. Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1))];

    /// <summary>A [rows, columns] weight stored as <paramref name="type"/>, and its dequantized values.</summary>
    static (byte[] Stored, float[] Values) Weight(Random random, GgmlType type, int rows, int columns)
    {
        var values = Random(random, rows * columns);
        var stored = new byte[GgmlTypeInfo.ByteSize(type, values.Length)];
        Quants.Quantize(type, values, stored);
        Quants.Dequantize(type, stored, values);
        return (stored, values);
    }

    /// <summary>Asserts |actual − expected| ≤ 1e-5 · Σ|terms| (float32 rounding over the sum) element by element.</summary>
    static void Close(float[] actual, double[] expected, double[] magnitude)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * (magnitude[i] + 1), $"element {i}: {actual[i]} vs {expected[i]}");
    }

    public static TheoryData<GgmlType, int, int, int> ForwardCases() => new()
    {
        { GgmlType.F32, 1, 3, 1 }, { GgmlType.F32, 5, 37, 7 }, { GgmlType.F32, 9, 64, 13 }, { GgmlType.F16, 6, 45, 18 },
        { GgmlType.Q8_0, 7, 64, 9 }, { GgmlType.F32, 70, 96, 150 }, { GgmlType.Q8_0, 33, 128, 70 },
    };

    [Theory]
    [MemberData(nameof(ForwardCases))]
    public void MultiplyTransposedAddMatchesTheSum(GgmlType type, int tokens, int inDim, int outDim)
    {
        var random = new Random(tokens * 1000 + inDim);
        var x = Random(random, tokens * inDim);
        var (stored, w) = Weight(random, type, outDim, inDim);
        var initial = Random(random, tokens * outDim);
        const float scale = 0.75f;
        var expected = new double[initial.Length];
        var magnitude = new double[initial.Length];
        for (int t = 0; t < tokens; t++)
            for (int o = 0; o < outDim; o++)
            {
                double sum = 0, size = 0;
                for (int i = 0; i < inDim; i++)
                {
                    sum += (double)x[t * inDim + i] * w[o * inDim + i];
                    size += Math.Abs((double)x[t * inDim + i] * w[o * inDim + i]);
                }
                expected[t * outDim + o] = initial[t * outDim + o] + scale * sum;
                magnitude[t * outDim + o] = size;
            }
        float[]? first = null;
        foreach (var pool in Pools)
        {
            var y = (float[])initial.Clone();
            fixed (byte* wp = stored) TrainingProducts.MultiplyTransposedAdd(x, wp, type, y, tokens, inDim, outDim, scale, pool);
            Close(y, expected, magnitude);
            first ??= y;
            Assert.True(first.AsSpan().SequenceEqual(y), $"{pool.Threads} threads changed the result");
        }
    }

    public static TheoryData<GgmlType, int, int, int, bool> BackwardCases() => new()
    {
        { GgmlType.F32, 1, 1, 5, false }, { GgmlType.F32, 6, 9, 37, false }, { GgmlType.F32, 7, 40, 50, true }, { GgmlType.F16, 13, 20, 44, false },
        { GgmlType.Q8_0, 9, 17, 64, true }, { GgmlType.F32, 90, 70, 96, true }, { GgmlType.Q8_0, 64, 300, 96, false },
    };

    [Theory]
    [MemberData(nameof(BackwardCases))]
    public void MultiplyAddMatchesTheSum(GgmlType type, int rows, int k, int n, bool columnMajorA)
    {
        var random = new Random(rows * 1000 + k);
        var a = Random(random, rows * k);
        int mStride = columnMajorA ? 1 : k, kStride = columnMajorA ? rows : 1;
        var (stored, b) = Weight(random, type, k, n);
        var initial = Random(random, rows * n);
        const float scale = -1.5f;
        var expected = new double[initial.Length];
        var magnitude = new double[initial.Length];
        for (int m = 0; m < rows; m++)
            for (int j = 0; j < n; j++)
            {
                double sum = 0, size = 0;
                for (int i = 0; i < k; i++)
                {
                    double term = (double)a[m * mStride + i * kStride] * b[i * n + j];
                    sum += term;
                    size += Math.Abs(term);
                }
                expected[m * n + j] = initial[m * n + j] + scale * sum;
                magnitude[m * n + j] = Math.Abs(scale) * size;
            }
        float[]? first = null;
        foreach (var pool in Pools)
        {
            var c = (float[])initial.Clone();
            fixed (byte* bp = stored) TrainingProducts.MultiplyAdd(a, mStride, kStride, bp, type, c, rows, k, n, scale, pool);
            Close(c, expected, magnitude);
            first ??= c;
            Assert.True(first.AsSpan().SequenceEqual(c), $"{pool.Threads} threads changed the result");
        }
    }

    [Fact]
    public void ShapesThatDoNotFitAreRefused()
    {
        var small = new float[4];
        var weight = (nint)NativeMemory.AllocZeroed(64);
        try
        {
            // x holds 4 values, not 2 tokens × 4; A's last element (1·2 + 2·1) lies past its 4.
            Assert.Throws<ArgumentException>(() => TrainingProducts.MultiplyTransposedAdd(small, (byte*)weight, GgmlType.F32, new float[4], 2, 4, 2, 1f));
            Assert.Throws<ArgumentException>(() => TrainingProducts.MultiplyAdd(small, 2, 1, (byte*)weight, GgmlType.F32, new float[2], 2, 3, 1, 1f));
        }
        finally
        {
            NativeMemory.Free((void*)weight);
        }
    }
}
