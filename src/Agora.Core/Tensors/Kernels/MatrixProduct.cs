using Agora.Tensors.Quantization;

namespace Agora.Tensors.Kernels;

/// <summary>
/// y = x·Wᵀ for activations x [tokens, in] and a weight W [out, in] stored row-major in any ggml type that
/// <see cref="Quants.CanDequantize"/> accepts, read in place (from a memory map: never copied). F32, Q8_0 and Q4_0
/// rows are dotted directly; other types are decoded a row at a time into a per-thread scratch row, which then
/// serves every token. Output rows are split across threads; each output is computed by one thread in a fixed
/// order, so results do not depend on the thread count.
/// </summary>
public static unsafe class MatrixProduct
{
    // Below this many multiply-adds, handing work to other threads costs more than it saves.
    const long ParallelThreshold = 1 << 18;

    [ThreadStatic] static float[]? scratchRow;

    public static void MatMul(ReadOnlySpan<float> x, ReadOnlySpan<byte> weight, GgmlType type, Span<float> y, int tokens, int inDim, int outDim)
    {
        fixed (byte* w = weight) MatMul(x, w, weight.Length, type, y, tokens, inDim, outDim, Simd.Best, Environment.ProcessorCount);
    }

    /// <summary>The same over a weight given by address (a mapped tensor larger than a span can hold).</summary>
    public static void MatMul(ReadOnlySpan<float> x, byte* weight, long weightBytes, GgmlType type, Span<float> y, int tokens, int inDim, int outDim) =>
        MatMul(x, weight, weightBytes, type, y, tokens, inDim, outDim, Simd.Best, Environment.ProcessorCount);

    internal static void MatMul(ReadOnlySpan<float> x, byte* weight, long weightBytes, GgmlType type, Span<float> y,
        int tokens, int inDim, int outDim, SimdWidth width, int threads)
    {
        Quants.CheckSupported(type);
        CheckShapes(x.Length, weightBytes, type, y.Length, tokens, inDim, outDim);
        if (tokens == 0 || outDim == 0) return;
        long rowBytes = GgmlTypeInfo.ByteSize(type, inDim);
        fixed (float* xp = x) fixed (float* yp = y)
        {
            var job = new Job(xp, weight, rowBytes, type, yp, tokens, inDim, outDim, width);
            long work = (long)tokens * inDim * outDim;
            int chunks = work < ParallelThreshold ? 1 : Math.Min(threads, outDim);
            if (chunks <= 1) job.Rows(0, outDim);
            else Parallel.For(0, chunks, new ParallelOptions { MaxDegreeOfParallelism = chunks },
                c => job.Rows((int)((long)outDim * c / chunks), (int)((long)outDim * (c + 1) / chunks)));
        }
    }

    /// <summary>The scalar twin tests compare against: scalar decoding, float64 accumulation.</summary>
    internal static void Reference(ReadOnlySpan<float> x, ReadOnlySpan<byte> weight, GgmlType type, Span<float> y, int tokens, int inDim, int outDim)
    {
        CheckShapes(x.Length, weight.Length, type, y.Length, tokens, inDim, outDim);
        long rowBytes = GgmlTypeInfo.ByteSize(type, inDim);
        var row = new float[inDim];
        fixed (byte* w = weight) fixed (float* r = row)
            for (int o = 0; o < outDim; o++)
            {
                Quants.DequantizeRow(type, w + o * rowBytes, r, inDim, SimdWidth.Scalar);
                for (int t = 0; t < tokens; t++)
                {
                    double sum = 0;
                    for (int i = 0; i < inDim; i++) sum += (double)x[t * inDim + i] * row[i];
                    y[t * outDim + o] = (float)sum;
                }
            }
    }

    static void CheckShapes(long xLength, long weightBytes, GgmlType type, long yLength, int tokens, int inDim, int outDim)
    {
        if (tokens < 0 || inDim <= 0 || outDim < 0) throw new ArgumentException($"bad shape: tokens {tokens}, in {inDim}, out {outDim}");
        if (xLength != (long)tokens * inDim) throw new ArgumentException($"x has {xLength} elements, expected {tokens}×{inDim}");
        if (yLength != (long)tokens * outDim) throw new ArgumentException($"y has {yLength} elements, expected {tokens}×{outDim}");
        Quants.CheckRowLength(type, weightBytes, (long)outDim * inDim);
        if (GgmlTypeInfo.ByteSize(type, inDim) < 0)
            throw new ArgumentException($"{type}: rows of {inDim} elements are not a whole number of {GgmlTypeInfo.BlockSize(type)}-element blocks");
    }

    sealed class Job(float* x, byte* weight, long rowBytes, GgmlType type, float* y, int tokens, int inDim, int outDim, SimdWidth width)
    {
        public void Rows(int first, int end)
        {
            bool direct = type is GgmlType.F32 or GgmlType.Q8_0 or GgmlType.Q4_0;
            float[] scratch = direct ? [] : ScratchRow(inDim);
            fixed (float* decoded = scratch)
                for (int o = first; o < end; o++)
                {
                    byte* row = weight + o * rowBytes;
                    if (!direct) Quants.DequantizeRow(type, row, decoded, inDim, width);
                    for (int t = 0; t < tokens; t++)
                    {
                        float* xt = x + (long)t * inDim;
                        y[(long)t * outDim + o] = type switch
                        {
                            GgmlType.F32 => VectorDot.Dot((float*)row, xt, inDim, width),
                            GgmlType.Q8_0 => Q8_0Block.Dot((Q8_0Block*)row, xt, inDim / Q8_0Block.Elements, width),
                            GgmlType.Q4_0 => Q4_0Block.Dot((Q4_0Block*)row, xt, inDim / Q4_0Block.Elements, width),
                            _ => VectorDot.Dot(decoded, xt, inDim, width),
                        };
                    }
                }
        }

        static float[] ScratchRow(int length)
        {
            var row = scratchRow;
            if (row == null || row.Length < length) scratchRow = row = new float[length];
            return row;
        }
    }
}
