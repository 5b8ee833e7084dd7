using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Tests.Tensors;

public class ConversionTests
{
    [Fact]
    public void F16ToF32IsExactForEveryBitPattern()
    {
        var halves = Enumerable.Range(0, 65536).Select(i => BitConverter.UInt16BitsToHalf((ushort)i)).ToArray();
        var floats = new float[halves.Length];
        ElementConversion.F16ToF32(halves, floats);
        for (int i = 0; i < halves.Length; i++)
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)halves[i]), BitConverter.SingleToUInt32Bits(floats[i]));
    }

    [Fact]
    public void F32ToF16RoundsToNearestEven()
    {
        var x = RandomBits(4099, seed: 1);
        var h = new Half[x.Length];
        ElementConversion.F32ToF16(x, h);
        for (int i = 0; i < x.Length; i++)
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)x[i]), BitConverter.HalfToUInt16Bits(h[i]));
        // 1 + 2^-11 is halfway between 1 and the next half: ties go to the even mantissa (1).
        ElementConversion.F32ToF16([1f + MathF.Pow(2, -11), 1f + 3 * MathF.Pow(2, -11)], h.AsSpan(0, 2));
        Assert.Equal((Half)1f, h[0]);
        Assert.Equal((Half)(1f + 4 * MathF.Pow(2, -11)), h[1]);
    }

    [Fact]
    public void BF16ToF32EveryPathEveryBitPattern()
    {
        var bits = Enumerable.Range(0, 65536).Select(i => (ushort)i).ToArray();
        foreach (var width in Simd.Supported)
        {
            var floats = new float[bits.Length];
            ElementConversion.BF16ToF32(bits, floats, width);
            for (int i = 0; i < bits.Length; i++) Assert.Equal((uint)i << 16, BitConverter.SingleToUInt32Bits(floats[i]));
        }
    }

    [Fact]
    public void F32ToBF16EveryPathMatchesScalarAndPyTorchRounding()
    {
        var x = RandomBits(1000 + 37, seed: 2);
        var expected = x.Select(ElementConversion.F32ToBF16).ToArray();
        foreach (var width in Simd.Supported)
        {
            var actual = new ushort[x.Length];
            ElementConversion.F32ToBF16(x, actual, width);
            Assert.Equal(expected, actual);
        }
        Assert.Equal(0x3F80, ElementConversion.F32ToBF16(1f));
        Assert.Equal(0x3F80, ElementConversion.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3F808000))); // tie → even
        Assert.Equal(0x3F82, ElementConversion.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3F818000))); // tie → even (up)
        Assert.Equal(0x3F81, ElementConversion.F32ToBF16(BitConverter.UInt32BitsToSingle(0x3F808001))); // above half → up
        Assert.Equal(0x7FC0, ElementConversion.F32ToBF16(float.NaN));
        Assert.Equal(0x7F80, ElementConversion.F32ToBF16(float.PositiveInfinity));
        Assert.Equal(0x7F80, ElementConversion.F32ToBF16(float.MaxValue)); // rounds up to infinity, as PyTorch
    }

    /// <summary>Random bit patterns: every exponent, denormals, infinities and NaNs included.</summary>
    static float[] RandomBits(int n, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => BitConverter.UInt32BitsToSingle((uint)random.NextInt64(0, 1L << 32))).ToArray();
    }
}

public class ActivationTests
{
    // ½x(1 + tanh u) written as x/(1 + e^(−2u)) — the same function, without float64's cancellation near x ≈ −7.
    static double GeluTanh(double x) => x / (1 + Math.Exp(-2 * Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

    [Fact]
    public void GeluTanhReferenceIsTheTanhFormula()
    {
        foreach (double x in new[] { -3.0, -0.5, 0.1, 1.0, 2.5 })
            Assert.Equal(0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x))), GeluTanh(x), 1e-15);
    }
    static double Silu(double x) => x / (1 + Math.Exp(-x));

    // Tolerance a few float32 ulps (Vector*.Exp is accurate to about 1 ulp, the formula adds a handful of roundings)
    // plus the conditioning of e^a. A wrong constant or sign is off by far more.
    [Theory]
    [InlineData(nameof(GeluTanh))]
    [InlineData(nameof(Silu))]
    public void EveryPathMatchesFloat64Formula(string name)
    {
        var x = TestData.Normal(1000 + 13, seed: 5, scale: 4).Concat([0f, -0f, 30f, -30f, 100f, -100f]).ToArray();
        foreach (var width in Simd.Supported)
        {
            var y = new float[x.Length];
            if (name == nameof(GeluTanh)) Activations.GeluTanh(x, y, width); else Activations.Silu(x, y, width);
            for (int i = 0; i < x.Length; i++)
            {
                double xi = x[i];
                double expected = name == nameof(GeluTanh) ? GeluTanh(xi) : Silu(xi);
                // e^a carries the float32 rounding of its argument a as a relative error of about |a|·2⁻²⁴,
                // so the bound grows with |a|: (8 + 4|a|) ulps.
                double exponent = name == nameof(GeluTanh) ? 2 * Math.Sqrt(2 / Math.PI) * Math.Abs(xi + 0.044715 * xi * xi * xi) : Math.Abs(xi);
                double tolerance = (8 + 4 * exponent) * Math.Pow(2, -24) * Math.Abs(expected) + 1e-30;
                Assert.True(Math.Abs(y[i] - expected) <= tolerance,
                    $"{name} {width}: x={x[i]:R} got {y[i]:R}, expected {expected:R}");
            }
        }
    }

    [Fact]
    public void SwiGluIsSiluTimesUp()
    {
        var g = TestData.Normal(515, seed: 6, scale: 3);
        var u = TestData.Normal(515, seed: 7);
        foreach (var width in Simd.Supported)
        {
            var y = new float[g.Length];
            Activations.SwiGlu(g, u, y, width);
            for (int i = 0; i < g.Length; i++)
                Assert.True(Math.Abs(y[i] - Silu(g[i]) * u[i]) <= 3e-6 * Math.Abs(Silu(g[i]) * u[i]) + 1e-30);
        }
    }

    [Fact]
    public void SoftmaxIsStableAndSumsToOne()
    {
        float[] x = [1000f, 1001f, 999f, float.NegativeInfinity, -1000f];
        Activations.Softmax(x);
        double z = Math.Exp(-1) + 1 + Math.Exp(-2);
        Assert.Equal(Math.Exp(-1) / z, x[0], 1e-6);
        Assert.Equal(1 / z, x[1], 1e-6);
        Assert.Equal(0f, x[3]);
        Assert.Equal(0f, x[4]);
        Assert.Equal(1.0, x.Sum(v => (double)v), 1e-6);
    }

    [Fact]
    public void AddAndMultiplyWork()
    {
        float[] a = [1, 2, 3], b = [4, 5, 6], y = new float[3];
        Activations.Add(a, b, y);
        Assert.Equal([5f, 7f, 9f], y);
        Activations.Multiply(a, b, y);
        Assert.Equal([4f, 10f, 18f], y);
        Assert.Throws<ArgumentException>(() => Activations.Add(a, b, new float[2]));
    }
}

public class NormalizationTests
{
    // Tolerance 1e-5 relative to the row's largest output: float32 statistics over ≤ 1000 elements.
    [Fact]
    public void RmsNormMatchesFloat64()
    {
        int dim = 333;
        var x = TestData.Normal(dim * 3, seed: 8, scale: 5);
        var w = TestData.Normal(dim, seed: 9);
        var y = new float[x.Length];
        Normalization.RmsNorm(x, w, 1e-6f, y);
        for (int r = 0; r < 3; r++)
        {
            var row = x.AsSpan(r * dim, dim).ToArray();
            double rms = Math.Sqrt(row.Sum(v => (double)v * v) / dim + 1e-6);
            for (int i = 0; i < dim; i++)
                Assert.Equal(row[i] / rms * w[i], y[r * dim + i], 1e-5 * 5);
        }
    }

    [Fact]
    public void LayerNormMatchesFloat64WithBiasedVariance()
    {
        int dim = 129;
        // A large mean tests the two-pass variance.
        var x = TestData.Normal(dim * 2, seed: 10).Select(v => v + 1000f).ToArray();
        var w = TestData.Normal(dim, seed: 11);
        var b = TestData.Normal(dim, seed: 12);
        var y = new float[x.Length];
        Normalization.LayerNorm(x, w, b, 1e-5f, y);
        for (int r = 0; r < 2; r++)
        {
            var row = x.AsSpan(r * dim, dim).ToArray();
            double mean = row.Average(v => (double)v);
            double variance = row.Sum(v => (v - mean) * (v - mean)) / dim; // biased, as PyTorch
            for (int i = 0; i < dim; i++)
                Assert.Equal((row[i] - mean) / Math.Sqrt(variance + 1e-5) * w[i] + b[i], y[r * dim + i], 2e-4);
        }
    }

    [Fact]
    public void RejectsPartialRows() =>
        Assert.Throws<ArgumentException>(() => Normalization.RmsNorm(new float[10], new float[3], 1e-5f, new float[10]));
}

public class MatrixProductTests
{
    static readonly WorkerPool[] Pools = [new(1), new(2), new(3)];

    public static TheoryData<GgmlType> Types() =>
        [GgmlType.F32, GgmlType.F16, GgmlType.BF16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1,
         GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K];

    /// <summary>
    /// Every vector width and thread count against the scalar twin (float64 accumulation over the same decoded
    /// weights), for one token (the direct kernels) and several (the tiled kernels: <see cref="FloatGemm"/> over
    /// F32 and decoded panels, <see cref="Int8Gemm"/> for the integer types), token counts around the tile sizes
    /// and 37 rows, a multiple of no tile. Tolerance: the worst-case float32 summation bound n·2⁻²⁴·Σ|xᵢwᵢ| — what
    /// reordering sums may cost — plus, for the types whose activations are quantized to int8 blocks, the
    /// activation rounding: at most half a step, max|x_block| / 254, per element, times Σ|wᵢ| over the block.
    /// </summary>
    [Theory]
    [MemberData(nameof(Types))]
    public void EveryPathMatchesReference(GgmlType type)
    {
        foreach (int tokens in new[] { 1, 2, 3, 5, 8, 17, 64 }) CheckEveryPath(type, tokens);
    }

    static unsafe void CheckEveryPath(GgmlType type, int tokens)
    {
        int block = GgmlTypeInfo.BlockSize(type);
        int inDim = block == 256 ? 512 : 32 * 19, outDim = 37; // 19 blocks: whole groups of eight and a rest
        var x = TestData.Normal(tokens * inDim, seed: 13);
        var w = TestData.Normal(outDim * inDim, seed: 14, scale: 0.1);
        var weight = new byte[GgmlTypeInfo.ByteSize(type, w.Length)];
        Quants.Quantize(type, w, weight);
        var decoded = new float[w.Length];
        Quants.Dequantize(type, weight, decoded);
        var expected = new float[tokens * outDim];
        MatrixProduct.Reference(x, weight, type, expected, tokens, inDim, outDim);
        var results = new List<float[]>();
        foreach (var width in Simd.Supported)
            foreach (var pool in Pools)
            {
                bool int8 = MatrixProduct.Int8Activated(type) && !MatrixProduct.Decodes(type, tokens, width);
                var y = new float[tokens * outDim];
                fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, y, tokens, inDim, outDim, width, pool);
                results.Add(y);
                for (int t = 0; t < tokens; t++)
                    for (int o = 0; o < outDim; o++)
                    {
                        double magnitude = 0, rounding = 0;
                        for (int b = 0; b < inDim; b += 32)
                        {
                            double amax = 0, weights = 0;
                            for (int i = b; i < b + 32; i++)
                            {
                                magnitude += Math.Abs(x[t * inDim + i] * decoded[o * inDim + i]);
                                amax = Math.Max(amax, Math.Abs(x[t * inDim + i]));
                                weights += Math.Abs(decoded[o * inDim + i]);
                            }
                            rounding += amax / 254 * weights;
                        }
                        double tolerance = inDim * Math.Pow(2, -24) * magnitude + (int8 ? rounding : 0) + 1e-12;
                        Assert.True(Math.Abs(y[t * outDim + o] - expected[t * outDim + o]) <= tolerance,
                            $"{type} {width} tokens {tokens} threads {pool.Threads}: y[{t},{o}] = {y[t * outDim + o]}, expected {expected[t * outDim + o]}");
                    }
            }
        // Thread counts never change a result: each output is one thread's fixed sequence of operations.
        for (int i = 0; i < results.Count; i += Pools.Length)
            for (int j = 1; j < Pools.Length; j++) Assert.Equal(results[i], results[i + j]);
    }

    /// <summary>The integer paths quantize activations, so they must differ from the float product only slightly,
    /// and every width must agree with the scalar integer path up to float summation order.</summary>
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void IntegerPathsAgreeAcrossWidths(GgmlType type)
    {
        // 608 = 19 blocks: the AVX-512 kernels' groups of eight and a rest that takes the 256-bit path.
        foreach (int inDim in GgmlTypeInfo.BlockSize(type) == 256 ? [1024] : new[] { 1024, 608 }) CheckIntegerWidths(type, inDim);
    }

    static unsafe void CheckIntegerWidths(GgmlType type, int inDim)
    {
        int outDim = 64, tokens = 1; // one token: the direct integer kernels of every type
        var x = TestData.Normal(tokens * inDim, seed: 21);
        var w = TestData.Normal(outDim * inDim, seed: 22, scale: 0.1);
        var weight = new byte[GgmlTypeInfo.ByteSize(type, w.Length)];
        Quants.Quantize(type, w, weight);
        var scalar = new float[tokens * outDim];
        fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, scalar, tokens, inDim, outDim, SimdWidth.Scalar, Pools[0]);
        foreach (var width in Simd.Supported)
        {
            var y = new float[tokens * outDim];
            fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, y, tokens, inDim, outDim, width, Pools[1]);
            AssertClose(scalar, y, $"{type} {width} in {inDim}");
        }
    }

    /// <summary>
    /// The tiled integer kernel (<see cref="Int8Gemm"/>) against its scalar twin — the scalar direct kernel run one
    /// token at a time on the same int8 activations: the integer sums are exact in both, so only the float
    /// summation order differs. Odd shapes: 37 rows (no whole panel), token counts around the tile widths.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q4_K)]
    [InlineData(GgmlType.Q5_K)]
    [InlineData(GgmlType.Q6_K)]
    public void TiledIntegerKernelMatchesScalarTwin(GgmlType type)
    {
        int inDim = GgmlTypeInfo.BlockSize(type) == 256 ? 768 : 224, outDim = 37;
        var w = TestData.Normal(outDim * inDim, seed: 31, scale: 0.1);
        var weight = new byte[GgmlTypeInfo.ByteSize(type, w.Length)];
        Quants.Quantize(type, w, weight);
        foreach (int tokens in new[] { 2, 3, 5, 8, 17, 64 })
            CheckIntegerTiles(type, weight, TestData.Normal(tokens * inDim, seed: 32 + tokens), tokens, inDim, outDim);
    }

    /// <summary>
    /// The partial sums of the tiled integer kernel hold at the extremes: every q at its largest (15 for 4-bit
    /// types, 31 for 5-bit, −127 for Q8_0, −32 under scales of −128 for Q6_K) against activations that all quantize
    /// to +127 or all to −127.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q4_1)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q5_1)]
    [InlineData(GgmlType.Q6_K)]
    public unsafe void TiledIntegerKernelHoldsAtExtremes(GgmlType type)
    {
        int inDim = 256, outDim = 40, tokens = 6, blockBytes = (int)GgmlTypeInfo.ByteSize(type, GgmlTypeInfo.BlockSize(type));
        var weight = new byte[GgmlTypeInfo.ByteSize(type, outDim * inDim)];
        for (int b = 0; b < weight.Length / blockBytes; b++)
        {
            if (type == GgmlType.Q6_K)
            {
                // ql and qh all zero: every q − 32 = −32; every scale −128; d last.
                weight.AsSpan(b * blockBytes + 192, 16).Fill(0x80);
                BitConverter.TryWriteBytes(weight.AsSpan(b * blockBytes + 208), (Half)0.0001f);
                continue;
            }
            var block = weight.AsSpan(b * blockBytes, blockBytes);
            block.Fill(type == GgmlType.Q8_0 ? (byte)0x81 : (byte)0xFF); // every q and fifth bit at its largest (Q8_0: −127) …
            BitConverter.TryWriteBytes(block, (Half)0.01f); // … under a small positive d (and for Q4_1/Q5_1 m = d)
            if (type is GgmlType.Q4_1 or GgmlType.Q5_1) BitConverter.TryWriteBytes(block[2..], (Half)0.01f);
        }
        var x = new float[tokens * inDim];
        for (int t = 0; t < tokens; t++) x.AsSpan(t * inDim, inDim).Fill(t % 2 == 0 ? 1 : -1);
        CheckIntegerTiles(type, weight, x, tokens, inDim, outDim);
        // The direct one-token kernels at every width hold too.
        var scalar = new float[outDim];
        var y = new float[outDim];
        fixed (byte* p = weight)
            foreach (var width in Simd.Supported)
            {
                MatrixProduct.MatMul(x.AsSpan(0, inDim), p, weight.Length, type, scalar, 1, inDim, outDim, SimdWidth.Scalar, Pools[0]);
                MatrixProduct.MatMul(x.AsSpan(0, inDim), p, weight.Length, type, y, 1, inDim, outDim, width, Pools[1]);
                AssertClose(scalar, y, $"{type} {width} one token");
            }
    }

    static unsafe void CheckIntegerTiles(GgmlType type, byte[] weight, float[] x, int tokens, int inDim, int outDim)
    {
        var scalar = new float[tokens * outDim];
        var row = new float[outDim];
        fixed (byte* p = weight)
            for (int t = 0; t < tokens; t++)
            {
                MatrixProduct.MatMul(x.AsSpan(t * inDim, inDim), p, weight.Length, type, row, 1, inDim, outDim, SimdWidth.Scalar, Pools[0]);
                row.CopyTo(scalar, t * outDim);
            }
        foreach (var width in Simd.Supported.Where(w => Int8Gemm.Supports(type, w)))
            foreach (var pool in Pools)
            {
                var y = new float[tokens * outDim];
                fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, y, tokens, inDim, outDim, width, pool);
                AssertClose(scalar, y, $"{type} {width} tokens {tokens} threads {pool.Threads}");
            }
    }

    static void AssertClose(float[] expected, float[] actual, string what)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-5 * (1 + Math.Abs(expected[i])), $"{what}: [{i}] {actual[i]} vs {expected[i]}");
    }

    /// <summary>Activation blocks are the same bytes, scale and sum at every width (both round half to even).</summary>
    [Fact]
    public unsafe void ActivationQuantizationIsTheSameAtEveryWidth()
    {
        var x = TestData.Normal(32 * 40, seed: 41);
        for (int i = 0; i < 32; i++) x[32 + i] = (i - 15.5f) / 15.5f * 127 / 2; // many exact halves: ties to even
        x.AsSpan(64, 32).Clear(); // an all-zero block: scale 0
        var scalar = new Int8Block[40];
        fixed (float* xp = x) fixed (Int8Block* q = scalar) Int8Block.Quantize(xp, q, scalar.Length, SimdWidth.Scalar);
        foreach (var width in Simd.Supported)
        {
            var blocks = new Int8Block[40];
            fixed (float* xp = x) fixed (Int8Block* q = blocks) Int8Block.Quantize(xp, q, blocks.Length, width);
            for (int b = 0; b < blocks.Length; b++)
            {
                Assert.Equal(scalar[b].D, blocks[b].D);
                Assert.Equal(scalar[b].Sum, blocks[b].Sum);
                for (int j = 0; j < Int8Block.Elements; j++) Assert.Equal(scalar[b].Qs[j], blocks[b].Qs[j]);
            }
        }
        Assert.Equal(0, scalar[2].D);
    }

    /// <summary>
    /// Every output takes the same operations whatever tile it falls in — what makes results independent of the
    /// thread count and of how rows and tokens are chunked: the product over rows 3.. and tokens 2.. (so every tile
    /// boundary moves) gives bit for bit the outputs the whole product gave. An F32 token alone gives what it gave in
    /// the batch.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q5_0)]
    [InlineData(GgmlType.Q6_K)]
    public unsafe void OutputsDoNotDependOnTheirTile(GgmlType type)
    {
        int inDim = GgmlTypeInfo.BlockSize(type) == 256 ? 512 : 224 + 32 * 3, outDim = 37, tokens = 9, skipRows = 3, skipTokens = 2;
        var x = TestData.Normal(tokens * inDim, seed: 61);
        var weight = new byte[GgmlTypeInfo.ByteSize(type, outDim * inDim)];
        Quants.Quantize(type, TestData.Normal(outDim * inDim, seed: 62, scale: 0.1), weight);
        long rowBytes = GgmlTypeInfo.ByteSize(type, inDim);
        int rows = outDim - skipRows, part = tokens - skipTokens;
        foreach (var width in Simd.Supported)
        {
            var whole = new float[tokens * outDim];
            var shifted = new float[part * rows];
            fixed (byte* p = weight)
            {
                MatrixProduct.MatMul(x, p, weight.Length, type, whole, tokens, inDim, outDim, width, Pools[0]);
                MatrixProduct.MatMul(x.AsSpan(skipTokens * inDim), p + skipRows * rowBytes, rows * rowBytes, type, shifted, part, inDim, rows, width, Pools[0]);
            }
            for (int t = 0; t < part; t++)
                for (int o = 0; o < rows; o++)
                    Assert.Equal(whole[(t + skipTokens) * outDim + o + skipRows], shifted[t * rows + o]);
            if (type != GgmlType.F32) continue;
            var alone = new float[outDim];
            fixed (byte* p = weight)
                for (int t = 0; t < tokens; t++)
                {
                    MatrixProduct.MatMul(x.AsSpan(t * inDim, inDim), p, weight.Length, type, alone, 1, inDim, outDim, width, Pools[0]);
                    Assert.Equal(whole.AsSpan(t * outDim, outDim).ToArray(), alone);
                }
        }
    }

    /// <summary>Few rows and many tokens: the tokens are split among threads too, and nothing changes.</summary>
    [Theory]
    [InlineData(GgmlType.F32)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.Q6_K)]
    public unsafe void FewRowsSplitTokensAmongThreads(GgmlType type)
    {
        int inDim = 512, outDim = 5, tokens = 40;
        var x = TestData.Normal(tokens * inDim, seed: 51);
        var weight = new byte[GgmlTypeInfo.ByteSize(type, outDim * inDim)];
        Quants.Quantize(type, TestData.Normal(outDim * inDim, seed: 52, scale: 0.1), weight);
        var single = new float[tokens * outDim];
        fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, single, tokens, inDim, outDim, Simd.Best, Pools[0]);
        foreach (var pool in Pools)
        {
            var y = new float[tokens * outDim];
            fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, y, tokens, inDim, outDim, Simd.Best, pool);
            Assert.Equal(single, y);
        }
    }

    /// <summary>
    /// The in-register F16 widening is exact for every half: each finite bit pattern dotted with a one-hot
    /// activation gives its value; infinities and NaN stay so. BF16 likewise for every finite pattern.
    /// </summary>
    [Fact]
    public unsafe void HalfDotWidensEveryValueExactly()
    {
        var w = new ushort[32];
        var x = new float[32];
        foreach (var width in Simd.Supported)
            fixed (ushort* wp = w) fixed (float* xp = x)
                for (int start = 0; start < 65536; start += 32)
                {
                    for (int k = 0; k < 32; k++) w[k] = (ushort)(start + k);
                    for (int k = 0; k < 32; k++)
                    {
                        Array.Clear(x);
                        x[k] = 1;
                        var half = BitConverter.UInt16BitsToHalf(w[k]);
                        bool finiteRow = ((start >> 10) & 0x1F) != 0x1F; // a row holds one exponent
                        float f16 = HalfDot.DotF16((Half*)wp, xp, 32, width);
                        if (finiteRow) Assert.Equal((float)half, f16); // −0 sums to +0, hence values, not bits
                        float bf16 = HalfDot.DotBF16(wp, xp, 32, width);
                        float expected = ElementConversion.BF16ToF32(w[k]);
                        if (float.IsFinite(expected) && ((start >> 7) & 0xFF) != 0xFF)
                            Assert.Equal(expected, bf16);
                    }
                    if (((start >> 10) & 0x1F) == 0x1F)
                    {
                        // Row of infinities (mantissa 0 at k = 0) and NaN: one-hot on k = 0 with the rest set to +0.
                        Array.Clear(x);
                        x[0] = 1;
                        var single = new ushort[32];
                        single[0] = w[0];
                        fixed (ushort* sp = single)
                            Assert.Equal((float)BitConverter.UInt16BitsToHalf(w[0]), HalfDot.DotF16((Half*)sp, xp, 32, width));
                        single[0] = (ushort)(w[0] | 1);
                        fixed (ushort* sp = single) Assert.True(float.IsNaN(HalfDot.DotF16((Half*)sp, xp, 32, width)));
                    }
                }
    }

    [Fact]
    public void HalfToSingleMatchesTheRuntimeForEveryValue()
    {
        for (int bits = 0; bits < 65536; bits++)
        {
            var half = BitConverter.UInt16BitsToHalf((ushort)bits);
            float fast = ElementConversion.HalfToSingle(half), expected = (float)half;
            if (Half.IsNaN(half)) Assert.True(float.IsNaN(fast), $"0x{bits:X4}");
            else Assert.Equal(BitConverter.SingleToUInt32Bits(expected), BitConverter.SingleToUInt32Bits(fast));
        }
    }

    [Fact]
    public void ThreadedLargeProductEqualsSingleThreaded()
    {
        int inDim = 256, outDim = 1030, tokens = 2;
        var x = TestData.Normal(tokens * inDim, seed: 15);
        var w = TestData.Normal(outDim * inDim, seed: 16);
        foreach (var type in new[] { GgmlType.Q8_0, GgmlType.F32, GgmlType.Q4_K })
        {
            var weight = new byte[GgmlTypeInfo.ByteSize(type, w.Length)];
            Quants.Quantize(type, w, weight);
            var a = new float[tokens * outDim];
            MatrixProduct.MatMul(x, weight, type, a, tokens, inDim, outDim);
            foreach (var pool in Pools)
            {
                var b = new float[tokens * outDim];
                unsafe { fixed (byte* p = weight) MatrixProduct.MatMul(x, p, weight.Length, type, b, tokens, inDim, outDim, Simd.Best, pool); }
                Assert.Equal(a, b); // one thread per output, same order: bit-identical
            }
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    public void ProductsAllocateNothing(int tokens)
    {
        int inDim = 512, outDim = 512;
        var x = TestData.Normal(tokens * inDim, seed: 23);
        var y = new float[tokens * outDim];
        foreach (var type in new[] { GgmlType.F32, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q6_K })
        {
            var weight = new byte[GgmlTypeInfo.ByteSize(type, inDim * outDim)];
            Quants.Quantize(type, TestData.Normal(inDim * outDim, seed: 24), weight);
            MatrixProduct.MatMul(x, weight, type, y, tokens, inDim, outDim); // scratch buffers reach their size
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 10; i++) MatrixProduct.MatMul(x, weight, type, y, tokens, inDim, outDim);
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Fact]
    public unsafe void PoolRunsEveryChunkOnceAndSurvivesFailures()
    {
        using var pool = new WorkerPool(3);
        var counts = new int[100];
        fixed (int* c = counts)
            for (int round = 0; round < 50; round++) pool.Run(&Count, c, counts.Length);
        Assert.All(counts, n => Assert.Equal(50, n));
        Assert.Throws<InvalidOperationException>(() => pool.Run(&Fail, null, 8));
        fixed (int* c = counts) pool.Run(&Count, c, counts.Length); // still works after a failure
        Assert.All(counts, n => Assert.Equal(51, n));
    }

    static unsafe void Count(void* counts, int chunk) => Interlocked.Increment(ref ((int*)counts)[chunk]);
    static unsafe void Fail(void* state, int chunk) => throw new InvalidOperationException($"chunk {chunk}");

    [Fact]
    public void BadShapesAndTypesAreRefused()
    {
        Assert.Throws<ArgumentException>(() => MatrixProduct.MatMul(new float[64], new byte[34 * 2], GgmlType.Q8_0, new float[2], 1, 64, 1));
        Assert.Throws<ArgumentException>(() => MatrixProduct.MatMul(new float[48], new byte[34 * 3], GgmlType.Q8_0, new float[2], 1, 48, 2));
        var e = Assert.Throws<AgoraException>(() => MatrixProduct.MatMul(new float[256], new byte[66], GgmlType.IQ2_XXS, new float[1], 1, 256, 1));
        Assert.Contains("IQ2_XXS", e.Message);
    }
}

public class PositionTests
{
    [Theory]
    [InlineData(RopeLayout.NeoX)]
    [InlineData(RopeLayout.Interleaved)]
    public void RopeMatchesFloat64Rotation(RopeLayout layout)
    {
        int headDim = 64, heads = 3, tokens = 4, start = 1000;
        var inv = Rope.InverseFrequencies(headDim, 10000f);
        var x = TestData.Normal(tokens * heads * headDim, seed: 17);
        var y = x.ToArray();
        Rope.Apply(y, tokens, headDim, start, inv, layout);
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
                for (int i = 0; i < headDim / 2; i++)
                {
                    int baseIndex = (t * heads + h) * headDim;
                    var (a, b) = layout == RopeLayout.NeoX ? (i, i + headDim / 2) : (2 * i, 2 * i + 1);
                    // The angle in float64 from the exact formula; positions ~1000 make float32 angle rounding
                    // visible (|Δθ| ≤ 2⁻²⁴·1000 ≈ 6e-5), hence the 1e-4 tolerance.
                    double theta = (start + t) * Math.Pow(10000, -2.0 * i / headDim);
                    double xa = x[baseIndex + a], xb = x[baseIndex + b];
                    Assert.Equal(xa * Math.Cos(theta) - xb * Math.Sin(theta), y[baseIndex + a], 1e-4);
                    Assert.Equal(xb * Math.Cos(theta) + xa * Math.Sin(theta), y[baseIndex + b], 1e-4);
                }
    }

    [Fact]
    public void PartialRotaryLeavesTheRestAlone()
    {
        var inv = Rope.InverseFrequencies(16, 10000f);
        var x = TestData.Normal(64, seed: 18);
        var y = x.ToArray();
        Rope.Apply(y, 1, 32, 5, inv, RopeLayout.NeoX);
        Assert.Equal(x.AsSpan(16, 16).ToArray(), y.AsSpan(16, 16).ToArray());
        Assert.Equal(x.AsSpan(48, 16).ToArray(), y.AsSpan(48, 16).ToArray());
        Assert.NotEqual(x[1], y[1]);
    }

    [Fact]
    public void LinearScalingDividesFrequencies()
    {
        var plain = Rope.InverseFrequencies(64, 10000f);
        var scaled = Rope.InverseFrequencies(64, 10000f, new RopeScaling(RopeScalingKind.Linear, 4f));
        for (int i = 0; i < plain.Length; i++) Assert.Equal(plain[i] / 4f, scaled[i]);
    }

    /// <summary>
    /// Llama 3.1's settings (theta 500000, head 128, factor 8, low 1, high 4, original context 8192): wavelengths
    /// under 2048 keep their frequency, over 8192 are divided by 8, between are blended with
    /// s = (8192/λ − 1)/3 as (1 − s)·f/8 + s·f. Checked against that formula in float64 (1e-6 relative: the
    /// float32 steps) and on known values.
    /// </summary>
    [Fact]
    public void Llama3ScalingMatchesTransformers()
    {
        var scaling = new RopeScaling(RopeScalingKind.Llama3, 8f, 1f, 4f, 8192);
        var inv = Rope.InverseFrequencies(128, 500000f, scaling);
        Assert.Equal(64, inv.Length);
        Assert.Equal(1f, inv[0]);                     // θ₀ = 1: high frequency, unchanged
        int medium = 0;
        for (int i = 0; i < 64; i++)
        {
            double f = 1 / Math.Pow(500000, 2.0 * i / 128);
            double wavelen = 2 * Math.PI / f;
            double expected;
            if (wavelen < 8192 / 4.0) expected = f;
            else if (wavelen > 8192 / 1.0) expected = f / 8;
            else
            {
                double s = (8192 / wavelen - 1) / (4 - 1);
                expected = (1 - s) * f / 8 + s * f;
                medium++;
            }
            Assert.True(Math.Abs(inv[i] - expected) <= 1e-6 * expected, $"i={i}: {inv[i]} vs {expected}");
        }
        Assert.True(medium > 0, "no frequency fell in the blended band");
        Assert.Equal(1 / Math.Pow(500000, 126.0 / 128) / 8, inv[63], 1e-12); // lowest frequency: divided by 8
    }

    [Fact]
    public void AlibiSlopesForEightAndTwelveHeads()
    {
        // 8 heads: 2^(−8/8·k) = 2^−k.
        Assert.Equal(Enumerable.Range(1, 8).Select(k => (float)Math.Pow(2, -k)).ToArray(), Alibi.Slopes(8));
        // 12 heads: the 8 above, then odd powers 1, 3, 5, 7 of 2^(−4/8) = 2^−0.5.
        var twelve = Alibi.Slopes(12);
        double[] expected = [.. Enumerable.Range(1, 8).Select(k => Math.Pow(2, -k)), .. new[] { 1, 3, 5, 7 }.Select(k => Math.Pow(2, -0.5 * k))];
        for (int i = 0; i < 12; i++) Assert.True(Math.Abs(twelve[i] - expected[i]) <= 2e-7 * expected[i], $"head {i}: {twelve[i]} vs {expected[i]}");
        // 6 heads: 4 of 2^(−2k), then 2^−1 and 2^−3.
        Assert.Equal([0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f], Alibi.Slopes(6));
    }
}

public class AttentionThreadingTests
{
    /// <summary>
    /// Against attention computed in float64 from its definition, for head sizes the blocked kernels take (64, 48:
    /// whole vectors, with and without a 64-wide part) and one they leave to the key-by-key path (40), with grouped
    /// KV heads, a sliding window, and key counts that are not multiples of four.
    /// </summary>
    [Theory]
    [InlineData(64, 0)]
    [InlineData(48, 0)]
    [InlineData(40, 0)]
    [InlineData(64, 5)]
    public void MatchesFloat64Reference(int headDim, int window)
    {
        int heads = 6, kvHeads = 2, tokens = 7, start = 6, group = heads / kvHeads, length = start + tokens;
        var query = TestData.Normal(tokens * heads * headDim, seed: 34);
        var keys = TestData.Normal(length * kvHeads * headDim, seed: 35);
        var values = TestData.Normal(length * kvHeads * headDim, seed: 36);
        var output = new float[query.Length];
        Agora.Models.CausalAttention.Compute(query, keys, values, tokens, start, heads, kvHeads, headDim, window, [], new float[length], output);
        for (int t = 0; t < tokens; t++)
            for (int h = 0; h < heads; h++)
            {
                int visible = start + t + 1, first = window > 0 ? Math.Max(0, visible - window) : 0, kv = h / group * headDim;
                var weights = new double[visible];
                double max = double.NegativeInfinity, total = 0;
                for (int k = first; k < visible; k++)
                {
                    double dot = 0;
                    for (int d = 0; d < headDim; d++) dot += (double)query[(t * heads + h) * headDim + d] * keys[k * kvHeads * headDim + kv + d];
                    weights[k] = dot / Math.Sqrt(headDim);
                    max = Math.Max(max, weights[k]);
                }
                for (int k = first; k < visible; k++) total += weights[k] = Math.Exp(weights[k] - max);
                for (int d = 0; d < headDim; d++)
                {
                    double expected = 0;
                    for (int k = first; k < visible; k++) expected += weights[k] / total * values[k * kvHeads * headDim + kv + d];
                    Assert.Equal(expected, output[(t * heads + h) * headDim + d], 1e-5);
                }
            }
    }

    /// <summary>Heads split across 1, 2 or 3 threads give bit-identical outputs (prefill and decode shapes).</summary>
    [Theory]
    [InlineData(1, 40)]
    [InlineData(24, 0)]
    [InlineData(5, 17)]
    public void ThreadCountsAgree(int tokens, int start)
    {
        int heads = 6, kvHeads = 2, headDim = 64;
        var query = TestData.Normal(tokens * heads * headDim, seed: 31);
        var keys = TestData.Normal((start + tokens) * kvHeads * headDim, seed: 32);
        var values = TestData.Normal((start + tokens) * kvHeads * headDim, seed: 33);
        var slopes = Alibi.Slopes(heads);
        float[]? first = null;
        foreach (int threads in new[] { 1, 2, 3 })
            foreach (var alibi in new[] { false, true })
            {
                using var pool = new WorkerPool(threads);
                var output = new float[query.Length];
                Agora.Models.CausalAttention.Compute(query, keys, values, tokens, start, heads, kvHeads, headDim, 0,
                    alibi ? slopes : [], new float[start + tokens], output, pool);
                if (alibi) continue;
                if (first == null) first = output;
                else Assert.Equal(first, output);
            }
        Assert.Contains(first!, v => v != 0);
    }
}
