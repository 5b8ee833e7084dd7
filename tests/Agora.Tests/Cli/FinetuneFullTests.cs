using System.Text.Json.Nodes;
using Agora.Formats.Checkpoint;
using Agora.Formats.Safetensors;
using Agora.Tensors.Quantization;

namespace Agora.Tests.Cli;

/// <summary>agora finetune --full: every weight trains, the model is written in its source's format, checkpoints hold all weights.</summary>
public sealed class FinetuneFullTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("agora-full-cli-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    static string Model(params string[] parts) => Fixtures.Require(["models", "llama-a", .. parts]);

    string Data()
    {
        var path = Path.Combine(_folder, "train.jsonl");
        File.WriteAllText(path, """
            {"input_ids": [1, 20, 300, 41, 5], "labels": [-100, -100, 300, 41, 5]}
            {"input_ids": [7, 8, 9, 10, 11, 12, 13]}
            """);
        return path;
    }

    static float[] Values(Checkpoint checkpoint, string name)
    {
        var tensor = checkpoint.Get(name);
        var values = new float[tensor.ElementCount];
        Quants.Dequantize(tensor.Type, tensor.Data, values);
        return values;
    }

    [Fact]
    public void AHuggingFaceModelIsTrainedWhollyAndWrittenAsAFolder()
    {
        var output = Path.Combine(_folder, "hf");
        var r = CliRunner.Run("finetune", Model("hf"), "--data", Data(), "--format", "tokens", "--out", output, "--full", "--steps", "2", "--lr", "1e-3", "--save-every", "1", "--batch", "2");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("model (21 tensors trained)", r.Err);
        Assert.Equal(2, JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training.json")))!["losses"]!.AsArray().Count);
        Assert.False(File.Exists(Path.Combine(output, "adapter_model.safetensors")));

        // Every weight moved, and the model written is the last checkpoint's float32 weights (the source is float32 too).
        using var source = Checkpoint.Open(Model("hf"));
        using var trained = Checkpoint.Open(output);
        using var last = SafetensorsFile.Open(Path.Combine(output, "checkpoint-2", "model.safetensors"));
        Assert.Equal(source.Tensors.Count, trained.Tensors.Count);
        foreach (var tensor in source.Tensors)
        {
            var after = Values(trained, tensor.Name);
            Assert.NotEqual(Values(source, tensor.Name), after);
            Assert.Equal(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(last.TensorData(last.Get(tensor.Name))).ToArray(), after);
        }
        Assert.False(File.Exists(Path.Combine(output, "checkpoint-2", "adapter_model.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "checkpoint-2", "optimizer.safetensors")));

        var generated = CliRunner.Run("generate", output, "-p", "Hello", "-n", "3", "--temp", "0");
        Assert.True(generated.ExitCode == 0, generated.Err);
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model("hf"), "--data", Data(), "--format", "tokens", "--out", output, "--steps", "2", "--lr", "1e-3", "--save-every", "1", "--batch", "2", "--resume"),
            "--full is false, but checkpoint-2 was trained with true");
    }

    [Fact]
    public void AGgufModelIsWrittenAsAGgufFileInTheFolder()
    {
        var output = Path.Combine(_folder, "gguf");
        var r = CliRunner.Run("finetune", Model("model-f32.gguf"), "--data", Data(), "--format", "tokens", "--out", output, "--full", "--steps", "1", "--lr", "1e-3", "--save-every", "0");
        Assert.True(r.ExitCode == 0, r.Err);
        using var source = Checkpoint.Open(Model("model-f32.gguf"));
        using var trained = Checkpoint.Open(Path.Combine(output, "model.gguf"));
        Assert.Equal(CheckpointFormat.Gguf, trained.Format);
        Assert.NotEqual(Values(source, "model.layers.0.self_attn.q_proj.weight"), Values(trained, "model.layers.0.self_attn.q_proj.weight"));
    }

    [Fact]
    public void LoraOptionsAreRefusedWithFull()
    {
        var output = Path.Combine(_folder, "refused");
        foreach (var (flag, value) in new[] { ("--r", "4"), ("--alpha", "8"), ("--targets", "all"), ("--init-adapter", Model("lora")) })
            CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model("hf"), "--data", Data(), "--format", "tokens", "--out", output, "--full", flag, value),
                $"{flag} is for LoRA adapters");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model("hf"), "--data", Data(), "--format", "tokens", "--out", output, "--full", "--gguf"), "--gguf is for LoRA adapters");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model("hf"), "--data", Data(), "--format", "tokens", "--out", Model("hf"), "--full", "--steps", "1"), "is the model itself");
        Assert.False(Directory.Exists(output));
    }
}
