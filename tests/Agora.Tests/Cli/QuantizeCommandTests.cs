using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Tests.Cli;

public class QuantizeCommandTests
{
    static string LlamaGguf => Fixtures.Require("models", "llama-a", "model-f32.gguf");

    /// <summary>A fresh empty folder for outputs, so a test can see that nothing (not even a temporary file) is left.</summary>
    sealed class OutputFolder : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("agora-quantize-").FullName;
        public string File(string name) => System.IO.Path.Combine(Path, name);
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    [Fact]
    public void PrintsEachTensorAndWritesTheFile()
    {
        using var folder = new OutputFolder();
        var output = folder.File("q4km.gguf");
        var r = CliRunner.Run("quantize", LlamaGguf, output, "--type", "q4_k_m", "-t", "2");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Matches(@"blk\.1\.attn_v\.weight\s+256×128\s+F32\s+Q6_K\s+26880", r.Out);
        Assert.Matches(@"output_norm\.weight\s+256\s+F32\s+F32\s+1024", r.Out);
        Assert.Contains("21 tensors: 7.00 MiB → ", r.Out);
        using var gguf = GgufFile.Open(output);
        Assert.Equal(15, gguf.GetInt64("general.file_type"));
        Assert.Equal(GgmlType.Q4_K, gguf.FindTensor("blk.0.attn_q.weight")!.Type);
        Assert.Single(Directory.GetFiles(folder.Path));
    }

    [Fact]
    public void BadInputsFailCleanlyWithoutOutput()
    {
        using var folder = new OutputFolder();
        var output = folder.File("out.gguf");
        var corrupt = folder.File("corrupt.gguf");
        File.WriteAllBytes(corrupt, [.. File.ReadAllBytes(LlamaGguf).AsSpan(0, 4000)]);

        CliRunner.AssertCleanFailure(CliRunner.Run("quantize", LlamaGguf, output, "--type", "Q3_K_XL"), "unknown quantization type 'Q3_K_XL'");
        CliRunner.AssertCleanFailure(CliRunner.Run("quantize", LlamaGguf, folder.File("missing/out.gguf"), "--type", "Q8_0"), "does not exist");
        CliRunner.AssertCleanFailure(CliRunner.Run("quantize", folder.File("absent.gguf"), output, "--type", "Q8_0"), "absent.gguf");
        var refused = CliRunner.Run("quantize", corrupt, output, "--type", "Q8_0");
        CliRunner.AssertCleanFailure(refused, "corrupt.gguf");
        Assert.Equal("", refused.Out); // no table header before the error
        CliRunner.AssertCleanFailure(CliRunner.Run("quantize", LlamaGguf, folder.Path, "--type", "Q8_0"), "is a folder");
        Assert.Equal([corrupt], Directory.GetFiles(folder.Path));
    }
}
