using System.Runtime.Intrinsics.X86;
using Agora.Tensors.Threading;

namespace Agora.Tensors.Kernels;

/// <summary>One weight [rows, in] of a single-token product and where its rows' outputs go.</summary>
internal readonly unsafe struct ProductSegment(byte* weight, GgmlType type, int rows, float* output)
{
    public readonly byte* Weight = weight;
    public readonly GgmlType Type = type;
    public readonly int Rows = rows;
    public readonly float* Output = output;
}

/// <summary>
/// y_s = x·W_sᵀ for one token x and several weights W_s that read it (Q, K and V; gate and up; or one weight alone),
/// each in its own type, read in place: x is quantized to int8 blocks once for all of them, and their rows run as
/// one pool operation. The rows are cut into a few chunks per thread of about equal bytes of weight (the work
/// of a generation step is streaming those bytes), claimed dynamically, so a thread slowed by other load leaves its
/// share to the others. Each output is one row's dot product on one thread, so results do not depend on the
/// thread count; a call allocates nothing.
/// </summary>
internal static unsafe class SingleTokenProduct
{
    // Below this many bytes of weight, handing work to other threads costs more than it saves.
    const long ParallelBytes = 1 << 15;
    // Chunks per thread: enough for the claiming to even out uneven progress, few enough that claims stay cheap.
    const int ChunksPerThread = 4;
    const int MaxSegments = 4;

    [ThreadStatic] static Int8Block[]? scratchActivations;
    [ThreadStatic] static float[]? scratchRow, scratchScales;

    /// <summary>Shapes are the caller's to check (<see cref="MatrixProduct"/> checks its own; models pass their layers').</summary>
    public static void Run(ReadOnlySpan<float> x, ReadOnlySpan<ProductSegment> segments, int inDim, SimdWidth width, WorkerPool pool)
    {
        if (segments.Length > MaxSegments) throw new ArgumentException($"at most {MaxSegments} weights share one product");
        var job = new Job { InDim = inDim, Width = width, Count = segments.Length };
        bool int8 = false;
        for (int s = 0; s < segments.Length; s++)
        {
            var segment = segments[s];
            long rowBytes = GgmlTypeInfo.ByteSize(segment.Type, inDim);
            job.Segments[s] = segment;
            job.RowBytes[s] = rowBytes;
            job.Start[s] = job.Bytes;
            job.Bytes += rowBytes * segment.Rows;
            int8 |= MatrixProduct.Int8Activated(segment.Type) && !MatrixProduct.Decodes(segment.Type, 1, width);
        }
        int blocks = inDim / Int8Block.Elements;
        var activations = int8 ? ScratchActivations(blocks) : [];
        var scales = int8 ? ScratchFloats(ref scratchScales, 2 * blocks) : [];
        fixed (float* xp = x) fixed (Int8Block* xq = activations) fixed (float* sp = scales)
        {
            if (int8)
            {
                Int8Block.Quantize(xp, xq, blocks, width);
                job.Xq = Int8Row.Of(xq, blocks, sp, sp + blocks);
            }
            job.X = xp;
            job.Chunks = job.Bytes < ParallelBytes ? 1 : pool.Threads * ChunksPerThread;
            pool.Run(&RunChunk, &job, job.Chunks);
        }
    }

    struct Job
    {
        public Segments Segments;
        public Longs RowBytes, Start;
        public long Bytes;
        public float* X;
        public Int8Row Xq;
        public int InDim, Count, Chunks;
        public SimdWidth Width;
    }

    [System.Runtime.CompilerServices.InlineArray(MaxSegments)] struct Segments { ProductSegment _first; }
    [System.Runtime.CompilerServices.InlineArray(MaxSegments)] struct Longs { long _first; }

    static void RunChunk(void* state, int chunk)
    {
        ref var job = ref *(Job*)state;
        // The chunk owns the rows that start in its share of the bytes.
        long low = job.Bytes * chunk / job.Chunks, high = job.Bytes * (chunk + 1) / job.Chunks;
        for (int s = 0; s < job.Count; s++)
        {
            var segment = job.Segments[s];
            long rowBytes = job.RowBytes[s], start = job.Start[s];
            int first = FirstRowAt(low - start, rowBytes, segment.Rows), end = FirstRowAt(high - start, rowBytes, segment.Rows);
            if (first < end) Rows(ref job, segment, rowBytes, first, end);
        }
    }

    static int FirstRowAt(long offset, long rowBytes, int rows) =>
        offset <= 0 ? 0 : (int)Math.Min(rows, (offset + rowBytes - 1) / rowBytes);

    static void Rows(ref Job job, ProductSegment segment, long rowBytes, int first, int end)
    {
        int inDim = job.InDim;
        if (segment.Type == GgmlType.F32)
        {
            // The tiled kernel, as for several tokens: an F32 output is the same for a token alone or in a batch.
            FloatGemm.Product((float*)(segment.Weight + first * rowBytes), end - first, job.X, 1, inDim, segment.Output + first, segment.Rows, job.Width);
            return;
        }
        if (MatrixProduct.Decodes(segment.Type, 1, job.Width))
        {
            var scratch = ScratchFloats(ref scratchRow, inDim);
            fixed (float* decoded = scratch)
                for (int o = first; o < end; o++)
                {
                    Quantization.Quants.DequantizeRow(segment.Type, segment.Weight + o * rowBytes, decoded, inDim, job.Width);
                    segment.Output[o] = VectorDot.Dot(decoded, job.X, inDim, job.Width);
                }
            return;
        }
        for (int o = first; o < end; o++)
        {
            Prefetch(segment.Weight + o * rowBytes + PrefetchBytes, rowBytes);
            segment.Output[o] = RowDot.Dot(segment.Type, segment.Weight + o * rowBytes, job.X, job.Xq, inDim, job.Width);
        }
    }

    // The weight streams from memory row after row; the hardware prefetcher alone leaves the core waiting on
    // each line, as it stops at every 4 KiB page of a mapped file and takes a few misses to start again. So each
    // row asks for what lies PrefetchBytes ahead: a short row for all of its lines, a longer one (Llama-1B's are 1–4
    // KiB) only for the first lines of each page starting there, leaving the rest of the page to the hardware — a
    // burst of prefetches for a whole long row fills the core's line-fill buffers and stalls it (medians of three
    // interleaved tg runs, 2 threads: Llama-1B F16 4.2 → 5.5 tokens/s, Q8_0 11.7 → 12.5, Q4_0 16.6 → 18.3; SmolLM2
    // within the noise).
    const int PrefetchBytes = 4096, PageBytes = 4096, ShortRow = 1024, PageHeadLines = 8;

    static void Prefetch(byte* start, long bytes)
    {
        if (!Sse.IsSupported) return;
        if (bytes <= ShortRow)
        {
            for (long offset = 0; offset < bytes; offset += 64) Sse.Prefetch0(start + offset);
            return;
        }
        long end = (long)start + bytes;
        for (long page = ((long)start + PageBytes - 1) & -PageBytes; page < end; page += PageBytes)
            for (int line = 0; line < PageHeadLines; line++) Sse.Prefetch0((byte*)page + 64 * line);
    }

    static Int8Block[] ScratchActivations(int blocks)
    {
        var buffer = scratchActivations;
        if (buffer == null || buffer.Length < blocks) scratchActivations = buffer = new Int8Block[blocks];
        return buffer;
    }

    static float[] ScratchFloats(ref float[]? scratch, int length)
    {
        if (scratch == null || scratch.Length < length) scratch = new float[length];
        return scratch;
    }
}
