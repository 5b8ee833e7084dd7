using System.CommandLine;
using System.Globalization;
using Agora.Conversion;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora quantize IN OUT --type Q4_K_M [-t N]</c>: a quantized (or plain F32/F16/BF16) GGUF copy of a GGUF model
/// or a Hugging Face folder (converted as llama.cpp's converter converts it) with llama.cpp's per-tensor mixture,
/// printing each tensor's type change and size, then the totals and the time taken.
/// </summary>
public static class QuantizeCommand
{
    public static Command Create(Terminal terminal)
    {
        var input = new Argument<string>("IN") { Description = "The GGUF model, or Hugging Face folder, to quantize" };
        var output = new Argument<string>("OUT") { Description = "The GGUF file to write (replaced only when complete)" };
        var type = new Option<string>("--type")
        {
            Description = $"The mixture: {string.Join(", ", QuantizationScheme.All.Select(s => s.Name))}; or a plain {string.Join(", ", QuantizationScheme.Plain.Select(s => s.Name))} conversion",
            Required = true,
        };
        var threads = new Option<int>("--threads", "-t") { Description = "Threads (default: one per core)" };
        var command = new Command("quantize", "Write a quantized GGUF copy of a GGUF model or a Hugging Face folder, choosing tensor types as llama.cpp does")
        {
            input, output, type, threads,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            var scheme = QuantizationScheme.Parse(parse.GetValue(type)!);
            int n = parse.GetValue(threads);
            if (n < 0) throw new AgoraException($"--threads must be 0 or more, not {n}");
            var o = terminal.Out;
            // The header comes with the first tensor, so an input refused up front prints nothing but its error.
            bool headed = false;
            var result = ModelQuantizer.Quantize(parse.GetValue(input)!, parse.GetValue(output)!, scheme, n, t =>
            {
                if (!headed) o.WriteLine($"{"tensor",-36} {"shape",-16} {"from",-6} {"to",-6} {"bytes",12}");
                headed = true;
                o.WriteLine($"{t.Name,-36} {string.Join("×", t.Shape),-16} {t.From,-6} {t.To,-6} {t.ToBytes,12}");
            });
            o.WriteLine($"{result.Tensors.Count} tensors: {Mib(result.FromBytes)} → {Mib(result.ToBytes)} ({scheme.Name}) " +
                $"in {result.Elapsed.TotalSeconds.ToString("0.00", CultureInfo.InvariantCulture)} s; wrote {result.Output}");
            return 0;
        }));
        return command;
    }

    static string Mib(long bytes) => (bytes / 1048576.0).ToString("0.00", CultureInfo.InvariantCulture) + " MiB";
}
