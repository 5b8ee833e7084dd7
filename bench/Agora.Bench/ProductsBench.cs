using System.Diagnostics;
using Agora.Tensors;
using Agora.Tensors.Kernels;
using Agora.Tensors.Quantization;
using Agora.Tensors.Threading;

namespace Agora.Bench;

/// <summary>
/// `products [tokens] [threads] [runs] [TYPE…] [--1b]`: the matrix products of a SmolLM2-135M forward pass (576→576,
/// 576→192, 576→1536, 1536→576 and the 576→49152 output head), or with <c>--1b</c> those of a Llama-3.2-1B layer
/// (2048→2048, 2048→512, 2048→8192, 8192→2048), at 128 tokens and 2 threads by default, for F32,
/// F16, Q8_0, Q4_0, Q5_0 and Q4_K weights (random values; speed does not depend on them). Each product runs
/// untimed for 0.3 s (twice at least) so the JIT has tiered up the code around the kernels, then <c>runs</c>
/// times; the table gives the median milliseconds and the GFLOP/s (2 flops per multiply-add) at the median and
/// at the fastest run (on a shared machine, the fastest is the least disturbed). K-quants need rows that are a
/// multiple of 256, so of SmolLM2's shapes Q4_K has only 1536→576.
/// </summary>
static class ProductsBench
{
    static readonly (int In, int Out)[] SmolShapes = [(576, 576), (576, 192), (576, 1536), (1536, 576), (576, 49152)];
    static readonly (int In, int Out)[] LlamaShapes = [(2048, 2048), (2048, 512), (2048, 8192), (8192, 2048)];

    static readonly GgmlType[] DefaultTypes = [GgmlType.F32, GgmlType.F16, GgmlType.Q8_0, GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q4_K];

    public static int Run(string[] args)
    {
        var shapes = args.Contains("--1b") ? LlamaShapes : SmolShapes;
        args = args.Where(a => a != "--1b").ToArray();
        int tokens = args.Length > 0 ? int.Parse(args[0]) : 128;
        int threads = args.Length > 1 ? int.Parse(args[1]) : 2;
        int runs = args.Length > 2 ? int.Parse(args[2]) : 7;
        var types = args.Length > 3 ? args.Skip(3).Select(a => Enum.Parse<GgmlType>(a, ignoreCase: true)).ToArray() : DefaultTypes;
        WorkerPool.SetSharedThreads(threads);
        Console.WriteLine($"{tokens} tokens, {threads} threads, median of {runs} runs: ms (GFLOP/s at the median, at the best run)");
        Console.Write($"{"in→out",-12}");
        foreach (var type in types) Console.Write($"{type,18}");
        Console.WriteLine();
        var random = new Random(1);
        foreach (var (inDim, outDim) in shapes)
        {
            var x = new float[tokens * inDim];
            for (int i = 0; i < x.Length; i++) x[i] = (float)(random.NextDouble() * 2 - 1);
            var w = new float[inDim * outDim];
            for (int i = 0; i < w.Length; i++) w[i] = (float)((random.NextDouble() * 2 - 1) * 0.035);
            var y = new float[tokens * outDim];
            Console.Write($"{$"{inDim}→{outDim}",-12}");
            foreach (var type in types)
            {
                if (GgmlTypeInfo.ByteSize(type, inDim) < 0)
                {
                    Console.Write($"{"n/a",18}");
                    continue;
                }
                var weight = new byte[GgmlTypeInfo.ByteSize(type, w.Length)];
                Quants.Quantize(type, w, weight);
                var times = new double[runs];
                // Untimed calls first, for 0.3 s: the JIT tiers a method up only after ~30 calls and a pause of 0.1 s
                // in new compilations, and the decoders around the kernels run slowly until then.
                long warm = Stopwatch.GetTimestamp();
                for (int i = 0; i < 2 || Stopwatch.GetElapsedTime(warm).TotalMilliseconds < 300; i++)
                    MatrixProduct.MatMul(x, weight, type, y, tokens, inDim, outDim);
                for (int r = 0; r < runs; r++)
                {
                    long start = Stopwatch.GetTimestamp();
                    MatrixProduct.MatMul(x, weight, type, y, tokens, inDim, outDim);
                    times[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                }
                Array.Sort(times);
                double flops = 2.0 * tokens * inDim * outDim, ms = times[runs / 2];
                Console.Write($"{$"{ms:F2} ({flops / ms / 1e6:F0}, {flops / times[0] / 1e6:F0})",18}");
            }
            Console.WriteLine();
        }
        return 0;
    }
}
