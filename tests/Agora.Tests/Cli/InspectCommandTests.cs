namespace Agora.Tests.Cli;

public class InspectCommandTests
{
    [Theory]
    [InlineData("hf")]
    [InlineData("model-f32.gguf")]
    [InlineData("model-f16.gguf")]
    public void ShowsArchitectureTokenizerAndTensors(string source)
    {
        var path = Fixtures.Require("models", "llama-a", source);
        var r = CliRunner.Run("inspect", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("architecture:  llama", r.Out);
        Assert.Contains("layers 2, hidden 256, FFN 768, heads 8 (KV 4)", r.Out);
        Assert.Contains("tokenizer:", r.Out);
        Assert.Contains("512 tokens", r.Out);
        Assert.Matches(source == "hf" ? "model.layers.0.self_attn.q_proj.weight" : "blk.0.attn_q.weight", r.Out);
        Assert.Contains(source == "model-f16.gguf" ? "F16" : "F32", r.Out);
    }

    [Fact]
    public void VocabularyOnlyGgufStillInspects()
    {
        var path = Fixtures.Require("tokenizers", "llama-cpp", "ggml-vocab-llama-spm.gguf");
        var r = CliRunner.Run("inspect", path);
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("tensors:       0", r.Out);
        Assert.Contains("tokenizer:", r.Out);
    }

    [Fact]
    public void CorruptFileFailsCleanly()
    {
        var source = Fixtures.Require("models", "qwen2-a", "model-f16.gguf");
        var file = Path.Combine(Path.GetTempPath(), $"agora-truncated-{Guid.NewGuid():N}.gguf");
        try
        {
            var bytes = File.ReadAllBytes(source);
            File.WriteAllBytes(file, bytes.AsSpan(0, bytes.Length / 3).ToArray());
            CliRunner.AssertCleanFailure(CliRunner.Run("inspect", file), file);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void MissingPathFailsCleanly() =>
        CliRunner.AssertCleanFailure(CliRunner.Run("inspect", "/nonexistent/model.gguf"), "/nonexistent/model.gguf");
}
