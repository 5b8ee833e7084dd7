using Agora.Formats.Gguf;

namespace Agora.Tests.Cli;

/// <summary>
/// Damaged copies of real fixture files go through the whole CLI (reader, config, tokenizer, template, model):
/// each run either works or fails with one clean user-facing error — never an internal error, a crash or a hang.
/// </summary>
public class CliMutationTests
{
    static void AssertCleanOutcome(CliRunner.Result r, string what)
    {
        Assert.True(r.ExitCode is 0 or 1, $"{what}: exit {r.ExitCode}: {r.Err}");
        if (r.ExitCode == 1)
        {
            Assert.StartsWith("error: ", r.Err);
            Assert.DoesNotContain("   at ", r.Err);
        }
    }

    [Fact]
    public void DamagedGgufModelsFailCleanlyThroughEveryCommand()
    {
        var source = File.ReadAllBytes(Fixtures.Require("models", "qwen2-a", "model-f16.gguf"));
        long dataStart;
        using (var gguf = GgufFile.Open(Fixtures.Require("models", "qwen2-a", "model-f16.gguf"))) dataStart = gguf.DataOffset;
        var dir = Directory.CreateTempSubdirectory("agora-cli-mutation-");
        try
        {
            var random = new Random(20261126);
            var path = Path.Combine(dir.FullName, "m.gguf");
            for (int i = 0; i < 60; i++)
            {
                var bytes = (byte[])source.Clone();
                int at = random.Next((int)dataStart);
                switch (i % 3)
                {
                    case 0: bytes[at] ^= (byte)(1 << random.Next(8)); break;
                    case 1: BitConverter.TryWriteBytes(bytes.AsSpan(Math.Min(at, bytes.Length - 8)), random.Next(2) == 0 ? ulong.MaxValue : (ulong)random.Next()); break;
                    default: bytes = bytes[..at]; break;
                }
                File.WriteAllBytes(path, bytes);
                AssertCleanOutcome(CliRunner.Run("inspect", path), $"case {i} inspect");
                AssertCleanOutcome(CliRunner.Run("tokenize", path, "--text", "Hello world"), $"case {i} tokenize");
                AssertCleanOutcome(CliRunner.Run("generate", path, "-p", "Hello", "-n", "2", "--temp", "0"), $"case {i} generate");
            }
        }
        finally { dir.Delete(true); }
    }

    [Theory]
    [InlineData("llama.rope.dimension_count", 7u)]
    [InlineData("llama.rope.dimension_count", 1000u)]
    [InlineData("llama.attention.head_count", 3u)]
    [InlineData("llama.block_count", 99u)]
    public void ImplausibleHyperParametersAreNamed(string key, uint value)
    {
        var dir = Directory.CreateTempSubdirectory("agora-cli-meta-");
        try
        {
            var path = Path.Combine(dir.FullName, "m.gguf");
            using (var source = GgufFile.Open(Fixtures.Require("models", "kjv-llama", "model-f16.gguf")))
            {
                var writer = GgufWriter.From(source);
                writer.Set(key, GgufValue.UInt32(value));
                writer.Write(path);
            }
            var r = CliRunner.Run("generate", path, "-p", "In", "-n", "2");
            CliRunner.AssertCleanFailure(r, path);
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void CatastrophicRegexInTokenizerJsonIsAnErrorNotAHang()
    {
        var dir = Directory.CreateTempSubdirectory("agora-cli-regex-");
        try
        {
            var path = Path.Combine(dir.FullName, "tokenizer.json");
            File.WriteAllText(path, """{"model":{"type":"BPE","vocab":{"a":0,"b":1,"c":2},"merges":[]},"pre_tokenizer":{"type":"Split","pattern":{"Regex":"(a*)*b"},"behavior":"Isolated"}}""");
            var r = CliRunner.Run("tokenize", path, "--text", new string('a', 40) + "c");
            CliRunner.AssertCleanFailure(r, "catastrophic backtracking");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void DuplicateJsonKeysKeepTheLastValueAsPythonDoes()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        var r = CliRunner.RunWithInput("{\"text\":\"ignored\",\"text\":\"In the beginning\"}\n", "tokenize", model, "--batch", "--no-special");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal("{\"ids\":[933,261,2337]}\n", r.Out);

        var messages = Path.GetTempFileName();
        try
        {
            File.WriteAllText(messages, """[{"role":"x","role":"user","content":"Hi"}]""");
            var t = CliRunner.Run("template", Fixtures.Require("models", "qwen2-a", "hf"), "--messages", messages);
            Assert.Equal(0, t.ExitCode);
            Assert.Contains("user\nHi", t.Out);
        }
        finally { File.Delete(messages); }
    }
}
