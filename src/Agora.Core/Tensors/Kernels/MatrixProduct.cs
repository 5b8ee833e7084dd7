using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Tensors.Kernels;

/// <summary>
/// y = x·Wᵀ for activations x [tokens, in] and a weight W [out, in] stored row-major in any ggml type that
/// <see cref="Quants.CanDequantize"/> accepts, read in place (from a memory map: never copied). F32 rows are dotted
/// directly. For one token (generation), F16/BF16 rows are widened in registers (<see cref="HalfDot"/>) and for
/// Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K the activations are quantized once to int8 blocks
/// (<see cref="Int8Block"/>) and dotted in integer SIMD (<see cref="QuantizedDot"/>). For several tokens, Q8_0
/// and Q4_0 stay integer while every other type (Q2_K and Q3_K always) is decoded a row at a time into a
/// per-thread scratch row, which then serves every token (see <see cref="Decodes"/>). Output rows are split into contiguous chunks run on the shared <see cref="WorkerPool"/>;
/// each output is computed by one thread in a fixed order, so results do not depend on the thread count. A call
/// allocates nothing (scratch buffers are per thread and grow only when a larger shape first appears).
/// </summary>
public static unsafe class MatrixProduct
{
    // Below this many multiply-adds, handing work to other threads costs more than it saves.
    const long ParallelThreshold = 1 << 16;

    [ThreadStatic] static float[]? scratchRow;
    [ThreadStatic] static Int8Block[]? scratchActivations;

    public static void MatMul(ReadOnlySpan<float> x, ReadOnlySpan<byte> weight, GgmlType type, Span<float> y, int tokens, int inDim, int outDim)
    {
        fixed (byte* w = weight) MatMul(x, w, weight.Length, type, y, tokens, inDim, outDim, Simd.Best, WorkerPool.Shared);
    }

    /// <summary>The same over a weight given by address (a mapped tensor larger than a span can hold).</summary>
    public static void MatMul(ReadOnlySpan<float> x, byte* weight, long weightBytes, GgmlType type, Span<float> y, int tokens, int inDim, int outDim) =>
        MatMul(x, weight, weightBytes, type, y, tokens, inDim, outDim, Simd.Best, WorkerPool.Shared);

    internal static void MatMul(ReadOnlySpan<float> x, byte* weight, long weightBytes, GgmlType type, Span<float> y,
        int tokens, int inDim, int outDim, SimdWidth width, WorkerPool pool)
    {
        Quants.CheckSupported(type);
        CheckShapes(x.Length, weightBytes, type, y.Length, tokens, inDim, outDim);
        if (tokens == 0 || outDim == 0) return;
        if (tokens == 1)
        {
            fixed (float* yp = y) SingleTokenProduct.Run(x, [new ProductSegment(weight, type, outDim, yp)], inDim, width, pool);
            return;
        }
        bool int8 = Int8Activated(type) && !Decodes(type, tokens);
        var activations = int8 ? ScratchActivations(tokens * (inDim / Int8Block.Elements)) : [];
        fixed (float* xp = x) fixed (float* yp = y) fixed (Int8Block* xq = activations)
        {
            if (int8) Int8Block.Quantize(xp, xq, tokens * (inDim / Int8Block.Elements));
            long work = (long)tokens * inDim * outDim;
            var job = new Job
            {
                X = xp, Xq = xq, Weight = weight, RowBytes = GgmlTypeInfo.ByteSize(type, inDim), Type = type, Y = yp,
                Tokens = tokens, InDim = inDim, OutDim = outDim, Width = width,
                Chunks = work < ParallelThreshold ? 1 : Math.Min(pool.Threads, outDim),
            };
            pool.Run(&RunChunk, &job, job.Chunks);
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

    /// <summary>One product's arguments, on the caller's stack while the pool runs its chunks.</summary>
    struct Job
    {
        public float* X, Y;
        public Int8Block* Xq;
        public byte* Weight;
        public long RowBytes;
        public GgmlType Type;
        public int Tokens, InDim, OutDim, Chunks;
        public SimdWidth Width;
    }

    static void RunChunk(void* state, int chunk)
    {
        var job = (Job*)state;
        Rows(ref *job, (int)((long)job->OutDim * chunk / job->Chunks), (int)((long)job->OutDim * (chunk + 1) / job->Chunks));
    }

    static void Rows(ref Job job, int first, int end)
    {
        var type = job.Type;
        int inDim = job.InDim, blocks = inDim / Int8Block.Elements;
        bool decode = Decodes(type, job.Tokens);
        float[] scratch = decode ? ScratchRow(inDim) : [];
        fixed (float* decoded = scratch)
            for (int o = first; o < end; o++)
            {
                byte* row = job.Weight + o * job.RowBytes;
                if (decode) Quants.DequantizeRow(type, row, decoded, inDim, job.Width);
                for (int t = 0; t < job.Tokens; t++)
                {
                    job.Y[(long)t * job.OutDim + o] = decode
                        ? VectorDot.Dot(decoded, job.X + (long)t * inDim, inDim, job.Width)
                        : RowDot.Dot(type, row, job.X + (long)t * inDim, job.Xq + (long)t * blocks, inDim, job.Width);
                }
            }
    }

    /// <summary>
    /// Whether rows are decoded to float first. Q2_K and Q3_K have no direct kernel. For several tokens the other
    /// types' direct kernels would unpack each weight block once per token, while a decoded row (in L1) serves them
    /// all at float FMA speed: measured on 64 tokens, decoding is up to twice as fast for Q5_0 and Q4_K, and even
    /// for Q6_K and F16. Only Q8_0 and Q4_0, whose blocks need next to no unpacking, stay integer there.
    /// </summary>
    internal static bool Decodes(GgmlType type, int tokens) =>
        type is GgmlType.Q2_K or GgmlType.Q3_K || (tokens > 1 && type is not (GgmlType.F32 or GgmlType.Q8_0 or GgmlType.Q4_0));

    /// <summary>Types whose products quantize the activations to int8 blocks (<see cref="Int8Block"/>).</summary>
    internal static bool Int8Activated(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1
        or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    static float[] ScratchRow(int length)
    {
        var row = scratchRow;
        if (row == null || row.Length < length) scratchRow = row = new float[length];
        return row;
    }

    static Int8Block[] ScratchActivations(int blocks)
    {
        var buffer = scratchActivations;
        if (buffer == null || buffer.Length < blocks) scratchActivations = buffer = new Int8Block[blocks];
        return buffer;
    }
}
