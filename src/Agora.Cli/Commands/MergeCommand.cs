using System.CommandLine;
using System.Globalization;
using Agora.Adapters;
using Agora.Conversion;
using Agora.Formats.Checkpoint;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora merge MODEL ADAPTER OUT [--scale S]</c>: folds a LoRA adapter into the model's weights
/// (W += S · alpha/r · B·A) and writes the merged model in the model's own format, printing one summary line.
/// </summary>
public static class MergeCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new Argument<string>("MODEL") { Description = "The base model: a GGUF file or a Hugging Face folder" };
        var adapter = new Argument<string>("ADAPTER") { Description = "The LoRA adapter: a PEFT folder or a llama.cpp GGUF LoRA" };
        var output = new Argument<string>("OUT")
        {
            Description = "The merged model, in the model's format: a .gguf file for a GGUF model, a folder for a Hugging Face one",
        };
        var scale = new Option<float>("--scale") { Description = "Multiply the adapter's update by this", DefaultValueFactory = _ => 1f };
        var command = new Command("merge", "Fold a LoRA adapter into a model's weights and write the merged model")
        {
            model, adapter, output, scale,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            float s = parse.GetValue(scale);
            if (!float.IsFinite(s)) throw new AgoraException($"--scale must be a finite number, not {s}");
            string modelPath = parse.GetValue(model)!, adapterPath = parse.GetValue(adapter)!, outPath = parse.GetValue(output)!;
            using var checkpoint = Checkpoint.Open(modelPath);
            ModelExport.CheckOutput(checkpoint, outPath); // before reading the adapter: a wrong OUT fails at once
            var lora = LoraAdapter.Load(adapterPath, checkpoint);
            var files = ModelExport.WriteMerged(checkpoint, lora.ToDeltas(s), outPath);
            double mib = files.Sum(f => new FileInfo(f).Length) / 1048576.0;
            terminal.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"merged {lora.Weights.Count} weights of {adapterPath} (scale {s}) into {modelPath}: wrote {outPath} " +
                $"({files.Count} {(files.Count == 1 ? "file" : "files")}, {mib:0.00} MiB)"));
            return 0;
        }));
        return command;
    }
}
