using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;

namespace Agora.Tests.Tensors;

public class QuantizationTests
{
    /// <summary>
    /// The input the golden hashes were made from: ggml's quantize_row_*_ref and dequantize_row_* (ggml commit
    /// d99724f, gcc 12 -O2 -march=native, identical with -ffp-contract=off and =fast) over these 4096 values —
    /// a xorshift32 stream in [−1, 1), scaled by 1..7 per 256, the first 256 zero, two outliers.
    /// </summary>
    static float[] GoldenInput()
    {
        var x = new float[4096];
        uint s = 2463534242u;
        for (int i = 0; i < x.Length; i++)
        {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            float v = (s >> 8) * (1f / 16777216f) * 2f - 1f;
            x[i] = i < 256 ? 0f : v * (1 + i / 256 % 7);
        }
        x[300] = 9f;
        x[1000] = -11.5f;
        return x;
    }

    [Theory]
    [InlineData(GgmlType.Q4_0, "761d2bb919c5e9aa88e753a10db90cd2a8ad8b9a4a3cb47a37a0929ee9c9d123", "a076809413dbed1d05c725c5c8752f4cc9916a5d9e24cc8f4b1ce18326c740e1")]
    [InlineData(GgmlType.Q4_1, "57f62b30a832dabffd0a56785d9fb43083f97d979d211fbb5fd4de15db10a69e", "138241614277533523256f16bcf6c503e3114b7897cbdf871e7f7d1aa071e35a")]
    [InlineData(GgmlType.Q5_0, "3b3bfaf11d1b34525a5182d5831db7d7ccae28d0a8d2b1d9091d67945a10d559", "13449ca5f1627b3a8ac8c70a754f1ee7f438d1929a54f55b2fe9319c0cd793ae")]
    [InlineData(GgmlType.Q5_1, "d778efbfdd4061f7a62f8e4d419855fcbad30e0f295f2c8d4e029c178d0e9df7", "9ed93aec7e57ef0331c43c45b5aafcd11f92cfc7630a2cc99df99a84c0c9501e")]
    [InlineData(GgmlType.Q8_0, "5f7c2cfc49c575c64b8134ed57453060dcb15a872a741b6b904515a8deef60f2", "1addb317024625024f9094ce3806bb392acd4e233c0be79dcfe7eb298d444310")]
    [InlineData(GgmlType.Q2_K, "af08e70860849e0cf714d2d28fa48593d5ab8b830e5a57f9215c0783fba6aa73", "f279b7a54c3151577b5abc2fbe6b8f1f701048a276840de62669e1e1243c024c")]
    [InlineData(GgmlType.Q3_K, "00827e36e21f1cd5b1f8a220626b448c4ddfd037db20360aa546081db459c05f", "dc20662ed0122b5952fc3b2fab6ebb947aa1ff215ffdee70973e2a44ffb61bbb")]
    [InlineData(GgmlType.Q4_K, "80f47d27b72ec7e1df296a23cb95edcd9a114945cc9f35391cace9cf13abc14e", "ad1c295936f56eabfe0fcd99f396211356ac331391f5b546df0a7ac6e096c9b1")]
    [InlineData(GgmlType.Q5_K, "1dc7734fbecb70f1baaf5a660bdfad218973f1a66d84af1faff409076d87aee2", "da3a614f677e7a525637d07b7d18fc2db39ff246e950fa17d002f27d0608f56e")]
    [InlineData(GgmlType.Q6_K, "407be682b2bf7a377f191d88e6f4d7cecebb7777924d8fe21320190f9341ac24", "89f0c2753d9ef799ff589655e71a56ebbad41cebbb127624993607afa9c1d67f")]
    [InlineData(GgmlType.Q8_K, "70c3266cb41f4c3754f4ca62d75538b652ab8c87141deaf2e59a1f50711cf9e5", "66a2b85af1fe91c09c8c976c74abff3ae9bff6aef26cfc678ca5ab2901d84bd3")]
    public void QuantizeAndDequantizeMatchGgmlBitForBit(GgmlType type, string quantizedSha256, string dequantizedSha256)
    {
        var x = GoldenInput();
        var row = new byte[GgmlTypeInfo.ByteSize(type, x.Length)];
        Quants.Quantize(type, x, row);
        Assert.Equal(quantizedSha256, Convert.ToHexStringLower(SHA256.HashData(row)));
        var back = new float[x.Length];
        Quants.Dequantize(type, row, back);
        Assert.Equal(dequantizedSha256, Convert.ToHexStringLower(SHA256.HashData(MemoryMarshal.AsBytes(back.AsSpan()))));
    }

    [Fact]
    public void BlockStructsHaveGgmlSizes()
    {
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q4_0), Unsafe.SizeOf<Q4_0Block>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q4_1), Unsafe.SizeOf<Q4_1Block>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q5_0), Unsafe.SizeOf<Q5_0Block>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q5_1), Unsafe.SizeOf<Q5_1Block>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q8_0), Unsafe.SizeOf<Q8_0Block>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q2_K), Unsafe.SizeOf<Q2_KBlock>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q3_K), Unsafe.SizeOf<Q3_KBlock>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q4_K), Unsafe.SizeOf<Q4_KBlock>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q5_K), Unsafe.SizeOf<Q5_KBlock>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q6_K), Unsafe.SizeOf<Q6_KBlock>());
        Assert.Equal(GgmlTypeInfo.TypeSize(GgmlType.Q8_K), Unsafe.SizeOf<Q8_KBlock>());
    }

    [Fact]
    public void Q8_0HandExample()
    {
        // x_j = j − 16: amax 16, d = 16/127, q = round(x·127/16) half away from zero.
        var x = Enumerable.Range(0, 32).Select(j => (float)(j - 16)).ToArray();
        var row = new byte[34];
        Q8_0Block.Quantize(x, row);
        var block = MemoryMarshal.Read<Q8_0Block>(row);
        Assert.Equal((Half)(16f / 127), block.D);
        Assert.Equal(-127, (sbyte)row[2]);        // −16 · 7.9375
        Assert.Equal(-119, (sbyte)row[3]);        // −15 · 7.9375 = −119.06
        Assert.Equal(0, (sbyte)row[2 + 16]);
        Assert.Equal(119, (sbyte)row[2 + 31]);    // 15 · 7.9375 = 119.06
    }

    [Fact]
    public void Q4_0HandExample()
    {
        // The first largest magnitude is −16, so d = −16/−8 = 2 and q = min(15, trunc(x/2 + 8.5)).
        var x = Enumerable.Range(0, 32).Select(j => (float)(j - 16)).ToArray();
        var row = new byte[18];
        Q4_0Block.Quantize(x, row);
        Assert.Equal((Half)2f, MemoryMarshal.Read<Half>(row));
        Assert.Equal(0x80, row[2]);               // element 0 → 0, element 16 → 8
        Assert.Equal(0xF8, row[2 + 15]);          // element 15: −1/2 + 8.5 = 8; element 31: 16 clamped to 15
        var back = new float[32];
        Q4_0Block.Dequantize(row, back);
        Assert.Equal(-16f, back[0]);
        Assert.Equal(14f, back[31]);              // the clamp costs one step at the positive end
    }

    [Fact]
    public void Q4_1HandExample()
    {
        // x_j = j: min 0, d = 31/15; dequantization returns q·d + 0.
        var x = Enumerable.Range(0, 32).Select(j => (float)j).ToArray();
        var row = new byte[20];
        Q4_1Block.Quantize(x, row);
        Assert.Equal((Half)(31f / 15), MemoryMarshal.Read<Half>(row));
        Assert.Equal((Half)0f, MemoryMarshal.Read<Half>(row.AsSpan(2)));
        var back = new float[32];
        Q4_1Block.Dequantize(row, back);
        Assert.Equal(0f, back[0]);
        Assert.Equal(15 * (float)(Half)(31f / 15), back[31]);
    }

    /// <summary>
    /// Round trip on seeded Gaussian-like data: relative RMS error within what each format's bit budget allows
    /// (bounds about twice the observed error, so a wrong scale or bit layout fails while rounding noise passes).
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 0.006)]
    [InlineData(GgmlType.Q4_0, 0.12)]
    [InlineData(GgmlType.Q4_1, 0.10)]
    [InlineData(GgmlType.Q5_0, 0.06)]
    [InlineData(GgmlType.Q5_1, 0.05)]
    [InlineData(GgmlType.Q2_K, 0.45)]
    [InlineData(GgmlType.Q3_K, 0.22)]
    [InlineData(GgmlType.Q4_K, 0.10)]
    [InlineData(GgmlType.Q5_K, 0.05)]
    [InlineData(GgmlType.Q6_K, 0.025)]
    [InlineData(GgmlType.Q8_K, 0.012)]
    [InlineData(GgmlType.F16, 0.0005)]
    [InlineData(GgmlType.BF16, 0.004)]
    public void RoundTripErrorIsBounded(GgmlType type, double bound)
    {
        var x = TestData.Normal(2048, seed: 7);
        var row = new byte[GgmlTypeInfo.ByteSize(type, x.Length)];
        Quants.Quantize(type, x, row);
        var back = new float[x.Length];
        Quants.Dequantize(type, row, back);
        double err = 0, norm = 0;
        for (int i = 0; i < x.Length; i++) { err += Math.Pow(back[i] - x[i], 2); norm += (double)x[i] * x[i]; }
        double relative = Math.Sqrt(err / norm);
        Assert.True(relative < bound, $"{type}: relative RMS error {relative:G4} ≥ {bound}");
        Assert.True(relative > 0 || type == GgmlType.F32, $"{type}: a lossy format reproduced the input exactly");
    }

    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.BF16)]
    public void VectorDequantizationEqualsScalar(GgmlType type)
    {
        var x = TestData.Normal(32 * 37, seed: 3);
        var row = new byte[GgmlTypeInfo.ByteSize(type, x.Length)];
        Quants.Quantize(type, x, row);
        var expected = new float[x.Length];
        unsafe
        {
            fixed (byte* r = row) fixed (float* e = expected) Quants.DequantizeRow(type, r, e, x.Length, SimdWidth.Scalar);
            foreach (var width in Simd.Supported)
            {
                var actual = new float[x.Length];
                fixed (byte* r = row) fixed (float* a = actual) Quants.DequantizeRow(type, r, a, x.Length, width);
                Assert.Equal(expected, actual); // the same products, so bit-identical
            }
        }
    }

    [Fact]
    public void UnsupportedTypesAreRefusedByName()
    {
        var e = Assert.Throws<AgoraException>(() => Quants.Dequantize(GgmlType.IQ2_XXS, new byte[66], new float[256]));
        Assert.Contains("IQ2_XXS", e.Message);
        e = Assert.Throws<AgoraException>(() => Quants.Quantize(GgmlType.MXFP4, new float[32], new byte[17]));
        Assert.Contains("MXFP4", e.Message);
        e = Assert.Throws<AgoraException>(() => Quants.Dequantize((GgmlType)4, new byte[18], new float[32]));
        Assert.Contains("4", e.Message);
    }

    [Fact]
    public void MismatchedRowLengthsAreRefused()
    {
        Assert.Throws<ArgumentException>(() => Quants.Dequantize(GgmlType.Q8_0, new byte[33], new float[32]));
        Assert.Throws<ArgumentException>(() => Quants.Dequantize(GgmlType.Q8_0, new byte[34], new float[33]));
        Assert.Throws<ArgumentException>(() => Quants.Quantize(GgmlType.Q4_K, new float[256], new byte[143]));
        Assert.Throws<ArgumentException>(() => Q6_KBlock.Dequantize(new byte[210], new float[255]));
    }

    [Fact]
    public void ZeroBlocksStayZero()
    {
        foreach (var type in new[] { GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0,
                     GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K })
        {
            var row = new byte[GgmlTypeInfo.ByteSize(type, 256)];
            Quants.Quantize(type, new float[256], row);
            var back = new float[256];
            back.AsSpan().Fill(1f);
            Quants.Dequantize(type, row, back);
            Assert.All(back, v => Assert.Equal(0f, v));
        }
    }
}
