using Agora.Tests.Adapters;

namespace Agora.Tests.Cli;

public class MergeCommandTests
{
    static string Model(string model, string file) => Fixtures.Require("models", model, file);

    [Fact]
    public void MergesIntoAGgufFileAndPrintsOneLine()
    {
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, "merged.gguf");
        var r = CliRunner.Run("merge", Model("llama-a", "model-f32.gguf"), Model("llama-a", "lora"), output);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Matches(@"^merged 14 weights of .*lora \(scale 1\) into .*model-f32\.gguf: wrote .*merged\.gguf \(1 file, 7\.02 MiB\)\n$", r.Out);
        Assert.Equal([output], Directory.GetFileSystemEntries(folder.Path));
        Assert.False(File.ReadAllBytes(output).AsSpan().SequenceEqual(File.ReadAllBytes(Model("llama-a", "model-f32.gguf"))));
    }

    [Fact]
    public void MergesIntoAHfFolder()
    {
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, "merged");
        var r = CliRunner.Run("merge", Model("qwen2-a", "hf"), Model("qwen2-a", "lora-f32.gguf"), output);
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("merged 14 weights", r.Out);
        Assert.Contains("(6 files, 1.72 MiB)", r.Out);
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "chat_template.jinja")));
    }

    [Fact]
    public void ScaleZeroGivesTheModelBack()
    {
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, "same.gguf");
        var r = CliRunner.Run("merge", Model("bloom-a", "model-f32.gguf"), Model("bloom-a", "lora"), output, "--scale", "0");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("(scale 0)", r.Out);
        Assert.True(File.ReadAllBytes(output).AsSpan().SequenceEqual(File.ReadAllBytes(Model("bloom-a", "model-f32.gguf"))));
    }

    [Fact]
    public void BadInputsFailCleanlyWithoutOutput()
    {
        using var folder = new TempFolder();
        var gguf = Model("llama-a", "model-f32.gguf");
        var hf = Model("llama-a", "hf");
        var lora = Model("llama-a", "lora");
        var output = Path.Combine(folder.Path, "out.gguf");
        var aFile = Path.Combine(folder.Path, "a-file");
        File.WriteAllText(aFile, "");

        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, Model("bloom-a", "lora"), output), "is the adapter for another architecture?");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, Model("qwen2-a", "lora-f32.gguf"), output), "the adapter is for Qwen2, but the model is Llama");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, Model("qwen2-a", "lora"), output), "is the adapter for another model size?");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, lora, gguf), "is the model itself");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", hf, lora, hf), "is the model itself");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", hf, lora, output), "the output format follows the model's format");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, lora, Path.Combine(folder.Path, "folder")), "the output format follows the model's format");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, lora, Path.Combine(aFile, "out.gguf")), "does not exist");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, Path.Combine(folder.Path, "absent"), output), "no such LoRA adapter");
        CliRunner.AssertCleanFailure(CliRunner.Run("merge", gguf, lora, output, "--scale", "NaN"), "--scale must be a finite number");
        Assert.Equal([aFile], Directory.GetFileSystemEntries(folder.Path));
    }
}
