using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Tensors.Kernels;

/// <summary>
/// y = x·Wᵀ for activations x [tokens, in] and a weight W [out, in] stored row-major in any ggml type that
/// <see cref="Quants.CanDequantize"/> accepts, read in place (from a memory map: never copied).
/// One token (generation) goes to <see cref="SingleTokenProduct"/>.
/// Several tokens (prompt processing): register-tiled matrix-matrix kernels that load each weight once for many
/// tokens — <see cref="Int8Gemm"/> for Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K (a panel of rows repacked, then
/// integer multiplies against the int8 activations), <see cref="FloatGemm"/> for F32 rows and for the other types'
/// rows decoded a panel at a time (see <see cref="Decodes"/>).
/// Work is split by rows (and by tokens when rows are few) into chunks run on the shared <see cref="WorkerPool"/>;
/// each output is computed by one thread in a fixed order, so results do not depend on the thread count. A call
/// allocates nothing (scratch buffers are per thread and grow only when a larger shape first appears).
/// </summary>
public static unsafe class MatrixProduct
{
    // Below this many multiply-adds, handing work to other threads costs more than it saves.
    const long ParallelThreshold = 1 << 16;

    [ThreadStatic] static float[]? scratch;
    [ThreadStatic] static Int8Block[]? scratchActivations;
    [ThreadStatic] static short[]? scratchWords;

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
        bool int8 = Int8Activated(type) && !Decodes(type, tokens, width);
        bool words = int8 && Int8Gemm.Words(type);
        var activations = int8 ? ScratchActivations(tokens * (inDim / Int8Block.Elements)) : [];
        var widened = words ? ScratchWords(tokens * inDim) : [];
        fixed (float* xp = x) fixed (float* yp = y) fixed (Int8Block* xq = activations) fixed (short* xw = widened)
        {
            var job = new Job
            {
                X = xp, Xq = xq, Xw = xw, Weight = weight, RowBytes = GgmlTypeInfo.ByteSize(type, inDim), Type = type, Y = yp,
                Tokens = tokens, InDim = inDim, OutDim = outDim, Width = width, Panel = PanelRows(type, width),
            };
            SplitWork(ref job, pool.Threads);
            // The calling thread's scratch reaches its size here, whichever chunks it ends up running.
            Scratch(ScratchFloats(ref job));
            // Quantizing many tokens' activations is worth a dispatch of its own (it would otherwise be serial).
            job.QuantizeChunks = job.RowChunks * job.TokenChunks > 1 ? Math.Min(tokens, pool.Threads) : 1;
            if (int8) pool.Run(&QuantizeChunk, &job, job.QuantizeChunks);
            pool.Run(&RunChunk, &job, job.RowChunks * job.TokenChunks);
        }
    }

    static void QuantizeChunk(void* state, int chunk)
    {
        var job = (Job*)state;
        int first = (int)((long)job->Tokens * chunk / job->QuantizeChunks), end = (int)((long)job->Tokens * (chunk + 1) / job->QuantizeChunks);
        int blocks = job->InDim / Int8Block.Elements;
        Int8Block.Quantize(job->X + (long)first * job->InDim, job->Xq + (long)first * blocks, (end - first) * blocks, job->Width);
        if (job->Xw != null) Int8Block.Widen(job->Xq + (long)first * blocks, job->Xw + (long)first * job->InDim, (end - first) * blocks);
    }

    /// <summary>
    /// Chunks of whole panels of rows, many per thread (up to a panel each), so that threads slowed by other work on the machine leave their share to the rest and the
    /// last chunks even out; when there are fewer panels than threads (a LoRA rank, say), tokens are split too.
    /// Small products stay on the calling thread.
    /// </summary>
    static void SplitWork(ref Job job, int threads)
    {
        int panels = (job.OutDim + job.Panel - 1) / job.Panel;
        job.RowChunks = job.TokenChunks = 1;
        if ((long)job.Tokens * job.InDim * job.OutDim < ParallelThreshold || threads == 1) return;
        job.RowChunks = Math.Min(panels, 16 * threads);
        if (job.RowChunks < threads) job.TokenChunks = Math.Min(job.Tokens, (threads + job.RowChunks - 1) / job.RowChunks);
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
        public short* Xw;
        public byte* Weight;
        public long RowBytes;
        public GgmlType Type;
        public int Tokens, InDim, OutDim, Panel, RowChunks, TokenChunks, QuantizeChunks;
        public SimdWidth Width;
    }

    static void RunChunk(void* state, int chunk)
    {
        var job = (Job*)state;
        int rowChunk = chunk % job->RowChunks, tokenChunk = chunk / job->RowChunks;
        int panels = (job->OutDim + job->Panel - 1) / job->Panel;
        int first = (int)((long)panels * rowChunk / job->RowChunks) * job->Panel;
        int end = Math.Min(job->OutDim, (int)((long)panels * (rowChunk + 1) / job->RowChunks) * job->Panel);
        int firstToken = (int)((long)job->Tokens * tokenChunk / job->TokenChunks);
        int endToken = (int)((long)job->Tokens * (tokenChunk + 1) / job->TokenChunks);
        Tiles(ref *job, first, end, firstToken, endToken);
    }

    /// <summary>
    /// Several tokens: F32 rows go straight to the register-tiled float kernel (<see cref="FloatGemm"/>); the types
    /// with an integer kernel (<see cref="Int8Gemm"/>) are repacked a panel at a time, the rest decoded to float a
    /// panel at a time, into per-thread scratch that then serves every token of the chunk.
    /// </summary>
    static void Tiles(ref Job job, int first, int end, int firstToken, int endToken)
    {
        int inDim = job.InDim, blocks = inDim / Int8Block.Elements, tokens = endToken - firstToken;
        float* x = job.X + (long)firstToken * inDim, y = job.Y + (long)firstToken * job.OutDim;
        if (job.Type == GgmlType.F32)
        {
            FloatGemm.Product((float*)(job.Weight + first * job.RowBytes), end - first, x, tokens, inDim, y + first, job.OutDim, job.Width);
            return;
        }
        bool integer = Int8Gemm.Supports(job.Type, job.Width);
        fixed (float* panel = Scratch(ScratchFloats(ref job)))
            for (int o = first; o < end; o += job.Panel)
            {
                int rows = Math.Min(job.Panel, end - o);
                byte* weight = job.Weight + o * job.RowBytes;
                if (integer)
                {
                    Int8Gemm.Pack(job.Type, weight, job.RowBytes, rows, job.Panel, blocks, (byte*)panel);
                    Int8Gemm.Product(job.Type, (byte*)panel, rows, blocks, job.Xq + (long)firstToken * blocks, job.Xw + (long)firstToken * inDim,
                        tokens, y + o, job.OutDim, job.Width);
                    continue;
                }
                for (int r = 0; r < rows; r++) Quants.DequantizeRow(job.Type, weight + r * job.RowBytes, panel + r * inDim, inDim, job.Width);
                FloatGemm.Product(panel, rows, x, tokens, inDim, y + o, job.OutDim, job.Width);
            }
    }

    /// <summary>
    /// Per-thread scratch a chunk takes, in floats: one decoded row for one token (Q2_K, Q3_K), a panel of
    /// repacked integer rows or of decoded float rows for several, none for F32 and the direct kernels.
    /// </summary>
    static int ScratchFloats(ref Job job) =>
        job.Type == GgmlType.F32 ? 0
        : Int8Gemm.Supports(job.Type, job.Width) ? (Int8Gemm.PanelBytes(job.Type, job.Panel, job.InDim / Int8Block.Elements) + 3) / 4
        : job.Panel * job.InDim;

    /// <summary>Rows per panel: whole tiles of the kernel that serves the type.</summary>
    static int PanelRows(GgmlType type, SimdWidth width) =>
        Int8Gemm.Supports(type, width) ? Int8Gemm.PanelRows(width) : FloatGemm.PanelRows(width);

    /// <summary>
    /// Whether rows are decoded to float first. Q2_K and Q3_K have no direct kernel. For several tokens, every type
    /// but F32 and those <see cref="Int8Gemm"/> serves at this width is decoded a panel of rows at a time: a decoded
    /// panel (in L1) serves all tokens at float multiply-add speed, where the direct kernels would unpack each
    /// weight block once per token.
    /// </summary>
    internal static bool Decodes(GgmlType type, int tokens, SimdWidth width) =>
        type is GgmlType.Q2_K or GgmlType.Q3_K || (tokens > 1 && type is not GgmlType.F32 && !Int8Gemm.Supports(type, width));

    /// <summary>Types whose products quantize the activations to int8 blocks (<see cref="Int8Block"/>).</summary>
    internal static bool Int8Activated(GgmlType type) => type is GgmlType.Q8_0 or GgmlType.Q4_0 or GgmlType.Q4_1
        or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K;

    static float[] Scratch(int length)
    {
        if (length == 0) return [];
        var buffer = scratch;
        if (buffer == null || buffer.Length < length) scratch = buffer = new float[length];
        return buffer;
    }

    static short[] ScratchWords(int length)
    {
        var buffer = scratchWords;
        if (buffer == null || buffer.Length < length) scratchWords = buffer = new short[length];
        return buffer;
    }

    static Int8Block[] ScratchActivations(int blocks)
    {
        var buffer = scratchActivations;
        if (buffer == null || buffer.Length < blocks) scratchActivations = buffer = new Int8Block[blocks];
        return buffer;
    }
}
