using System.Diagnostics;
using System.Globalization;
using Agora.Conversion;
using Agora.Formats.Checkpoint;
using Agora.Tensors;
using Agora.Tensors.Threading;
using Agora.Training;

namespace Agora.Bench;

/// <summary>
/// `train [TYPE…] [--seq N] [--steps N] [--threads N] [--full] [--checkpointing]`: training speed on the synthetic
/// SmolLM2-135M shape (<see cref="SyntheticShape.SmolLM2_135M"/>) with its base in each TYPE (F32, F16, or Q8_0,
/// quantized from the F16 file): LoRA r=8, alpha 16 on every projection (or, with --full, every weight), one sequence
/// of N random tokens (all scored) per AdamW step. After one untimed step (JIT, first pages of the weights, the
/// workspace), each of the timed steps is measured; it prints the median tokens/s, the process CPU time per step
/// (about threads × the step time when the machine is not shared), the most bytes a step allocated (all threads),
/// the managed memory training holds, and the peak resident memory.
/// </summary>
static class TrainBench
{
    public static int Run(string[] args)
    {
        var types = new List<GgmlType>();
        int sequence = 256, steps = 5, threads = 2;
        bool full = false, checkpointing = false;
        for (int i = 0; i < args.Length; i++)
            switch (args[i])
            {
                case "--seq": sequence = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--steps": steps = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--threads": threads = int.Parse(args[++i], CultureInfo.InvariantCulture); break;
                case "--full": full = true; break;
                case "--checkpointing": checkpointing = true; break;
                default:
                    if (!Enum.TryParse<GgmlType>(args[i], ignoreCase: true, out var type) || type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.Q8_0))
                    {
                        Console.Error.WriteLine("usage: train [F32|F16|Q8_0 …] [--seq N] [--steps N] [--threads N] [--full] [--checkpointing]");
                        return 2;
                    }
                    types.Add(type);
                    break;
            }
        if (types.Count == 0) types = [GgmlType.F32, GgmlType.F16];
        WorkerPool.SetSharedThreads(threads);
        Console.WriteLine($"smollm2-135m, {(full ? "all weights" : "LoRA r=8 on every projection")}, 1 × {sequence} tokens per step, " +
            $"{threads} threads{(checkpointing ? ", gradient checkpointing" : "")}, median of {steps} steps");
        foreach (var type in types) Measure(ModelFile(type), type, sequence, steps, full, checkpointing);
        return 0;
    }

    static void Measure(string path, GgmlType type, int sequence, int steps, bool full, bool checkpointing)
    {
        using var checkpoint = Checkpoint.Open(path);
        long before = GC.GetTotalMemory(forceFullCollection: true);
        var training = full
            ? TrainableTransformer.ForAllWeights(checkpoint)
            : TrainableTransformer.ForLora(checkpoint, LoraInitialization.Create(checkpoint, ["all"], rank: 8, alpha: 16, seed: 1));
        training.GradientCheckpointing = checkpointing;
        var trainer = new Trainer(training, new AdamWOptions(), new LearningRateSchedule(ScheduleKind.Constant, 1e-4f, 0, steps + 1));
        var random = new Random(5);
        var tokens = Enumerable.Range(0, sequence).Select(_ => random.Next(checkpoint.Config.VocabSize)).ToArray();
        var batch = new TrainingBatch(tokens, (int[])tokens.Clone(), 1, sequence);

        var clock = Stopwatch.StartNew();
        trainer.Step(batch);
        double warmup = clock.Elapsed.TotalSeconds;
        var seconds = new double[steps];
        long allocated = 0;
        var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        for (int s = 0; s < steps; s++)
        {
            long bytes = GC.GetTotalAllocatedBytes(precise: true);
            clock.Restart();
            trainer.Step(batch);
            seconds[s] = clock.Elapsed.TotalSeconds;
            allocated = Math.Max(allocated, GC.GetTotalAllocatedBytes(precise: true) - bytes);
        }
        process.Refresh();
        double cpuPerStep = (process.TotalProcessorTime - cpu).TotalSeconds / steps;
        Array.Sort(seconds);
        double median = seconds[steps / 2];
        long held = GC.GetTotalMemory(forceFullCollection: true) - before;
        GC.KeepAlive(trainer);
        Console.WriteLine($"{type,-5} {sequence / median,7:F1} tokens/s (steps {seconds[0]:F2}–{seconds[^1]:F2} s, first {warmup:F2} s, CPU {cpuPerStep:F2} s per step); " +
            $"allocated ≤ {allocated / 1024.0:F0} KiB per step; training holds {held / 1e6:F0} MB managed; peak resident {MemoryBench.Status("VmHWM") / 1e6:F0} MB");
    }

    /// <summary>The synthetic model file of a type, written (or quantized from the F16 one) on first use.</summary>
    static string ModelFile(GgmlType type)
    {
        var path = Path.Combine(Path.GetTempPath(), $"agora-synthetic-smollm2-135m-{type.ToString().ToLowerInvariant()}.gguf");
        if (File.Exists(path)) return path;
        if (type == GgmlType.Q8_0) ModelQuantizer.Quantize(ModelFile(GgmlType.F16), path, QuantizationScheme.Parse("Q8_0"));
        else SyntheticModel.Write(path, SyntheticShape.SmolLM2_135M, type);
        return path;
    }
}
