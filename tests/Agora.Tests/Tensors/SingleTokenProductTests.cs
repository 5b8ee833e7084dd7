using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Tests.Tensors;

public class SingleTokenProductTests
{
    // Weights of three types (an int8-activated one, a float one, one decoded row by row) sharing one input, large
    // enough to be cut into chunks mid-weight: each output must equal that weight's own product, bit for bit, at
    // every thread count.
    [Fact]
    public unsafe void SharedInputProductEqualsSeparateProductsAtEveryThreadCount()
    {
        const int InDim = 256;
        GgmlType[] types = [GgmlType.Q8_0, GgmlType.F16, GgmlType.Q2_K];
        int[] rows = [150, 61, 90];
        var x = TestData.Normal(InDim, seed: 3);
        var weights = new byte[types.Length][];
        var separate = new float[types.Length][];
        for (int s = 0; s < types.Length; s++)
        {
            var w = TestData.Normal(rows[s] * InDim, seed: 20 + s, scale: 0.1);
            weights[s] = new byte[GgmlTypeInfo.ByteSize(types[s], w.Length)];
            Quants.Quantize(types[s], w, weights[s]);
            separate[s] = new float[rows[s]];
            var reference = new float[rows[s]];
            MatrixProduct.MatMul(x, weights[s], types[s], separate[s], 1, InDim, rows[s]);
            MatrixProduct.Reference(x, weights[s], types[s], reference, 1, InDim, rows[s]);
            for (int o = 0; o < rows[s]; o++) Assert.Equal(reference[o], separate[s][o], 0.05f);
        }
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var pool = new WorkerPool(threads);
            var y = types.Select((_, s) => new float[rows[s]]).ToArray();
            fixed (byte* w0 = weights[0]) fixed (byte* w1 = weights[1]) fixed (byte* w2 = weights[2])
            fixed (float* y0 = y[0]) fixed (float* y1 = y[1]) fixed (float* y2 = y[2])
                SingleTokenProduct.Run(x, [new(w0, types[0], rows[0], y0), new(w1, types[1], rows[1], y1), new(w2, types[2], rows[2], y2)],
                    InDim, Simd.Best, pool);
            for (int s = 0; s < types.Length; s++) Assert.Equal(separate[s], y[s]);
        }
    }
}
