using System.Text.Json.Nodes;
using Agora.Bench;
using Agora.Formats.Checkpoint;
using Agora.Models;
using Agora.Tensors;
using Agora.Tokenization;

namespace Agora.Tests.Cli;

public class BenchCommandTests
{
    [Fact]
    public void JsonHasExactlyTheDocumentedKeys()
    {
        var model = Fixtures.Require("models", "llama-a", "hf");
        var r = CliRunner.Run("bench", model, "-p", "4", "-n", "3", "-r", "2", "-t", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(r.Out)!.AsObject();
        Assert.Equal(["pp", "tg", "threads", "model", "type"], json.Select(p => p.Key));
        foreach (var (test, tokens) in new[] { ("pp", 4), ("tg", 3) })
        {
            var result = json[test]!.AsObject();
            Assert.Equal(["tokens", "mean", "sd"], result.Select(p => p.Key));
            Assert.Equal(tokens, (int)result["tokens"]!);
            Assert.True((double)result["mean"]! > 0);
            Assert.True((double)result["sd"]! >= 0);
        }
        Assert.Equal(1, (int)json["threads"]!);
        Assert.Equal("hf", (string)json["model"]!);
        Assert.Equal("F32", (string)json["type"]!);
    }

    [Fact]
    public void TableNamesTheModelAndBothTests()
    {
        var model = Fixtures.Require("models", "llama-a", "model-f16.gguf");
        var r = CliRunner.Run("bench", model, "-p", "4", "-n", "2", "-r", "1");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("| model ", r.Out);
        Assert.Contains("model-f16.gguf", r.Out);
        Assert.Contains("| F16 ", r.Out);
        Assert.Contains("| pp4 ", r.Out);
        Assert.Contains("| tg2 ", r.Out);
    }

    [Theory]
    [InlineData("-p", "-1", "0 or more")]
    [InlineData("-n", "-1", "0 or more")]
    [InlineData("-r", "0", "a positive number")]
    [InlineData("-t", "0", "a positive number")]
    public void CountsOutOfRangeAreRefused(string option, string value, string expected)
    {
        var model = Fixtures.Require("models", "llama-a", "hf");
        CliRunner.AssertCleanFailure(CliRunner.Run("bench", model, option, value), $"{option} must be {expected}, not {value}");
    }

    [Fact]
    public void ZeroTokensLeaveThatTestOut()
    {
        var model = Fixtures.Require("models", "llama-a", "hf");
        var r = CliRunner.Run("bench", model, "-p", "0", "-n", "2", "-r", "1", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(["tg", "threads", "model", "type"], JsonNode.Parse(r.Out)!.AsObject().Select(p => p.Key));
        var table = CliRunner.Run("bench", model, "-p", "3", "-n", "0", "-r", "1");
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("| pp3 ", table.Out);
        Assert.DoesNotContain("| tg", table.Out);
        CliRunner.AssertCleanFailure(CliRunner.Run("bench", model, "-p", "0", "-n", "0"), "nothing to measure");
    }

    [Fact]
    public void MissingModelFailsCleanly() =>
        CliRunner.AssertCleanFailure(CliRunner.Run("bench", "/nonexistent/model.gguf"), "/nonexistent/model.gguf");
}

public class SyntheticModelTests
{
    [Fact]
    public void Llama32ShapeLoadsWithItsSizesScalingAndVocabulary()
    {
        // The real shape's widths and vocabulary with one layer, to stay fast.
        var shape = SyntheticShape.Llama32_1B with { Layers = 1 };
        var file = Path.Combine(Path.GetTempPath(), $"agora-synthetic-{Guid.NewGuid():N}.gguf");
        try
        {
            SyntheticModel.Write(file, shape, GgmlType.F16);
            using var checkpoint = Checkpoint.Open(file);
            var c = checkpoint.Config;
            Assert.Equal((ModelArchitecture.Llama, 128256, 2048, 8192, 1, 32, 8, 64), (c.Architecture, c.VocabSize, c.HiddenSize, c.IntermediateSize, c.LayerCount, c.HeadCount, c.KvHeadCount, c.HeadDim));
            Assert.True(c.TieWordEmbeddings);
            Assert.Equal(500000f, c.RopeTheta);
            Assert.Equal(RopeScalingKind.FrequencyFactors, c.RopeScaling!.Kind);
            Assert.Equal([8192, 2048], checkpoint.Get("model.layers.0.mlp.gate_proj.weight").Shape);
            Assert.Equal([512, 2048], checkpoint.Get("model.layers.0.self_attn.k_proj.weight").Shape);
            Assert.Equal(GgmlType.F16, checkpoint.Get("model.embed_tokens.weight").Type);

            // llama.cpp's factors for factor 32, low 1, high 4, original context 8192: 1 at the highest
            // frequency, 32 at the lowest.
            var factors = checkpoint.Get("rope_freqs.weight");
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(factors.Data);
            Assert.Equal(32, values.Length);
            Assert.Equal(1f, values[0]);
            Assert.Equal(32f, values[^1]);

            var tokenizer = TokenizerSource.Load(checkpoint);
            Assert.Equal(128256, tokenizer.VocabSize);
            Assert.Equal("In the beginning", tokenizer.Decode(tokenizer.Encode("In the beginning", addSpecialTokens: false)));

            var model = TransformerModel.Load(checkpoint);
            var logits = new float[model.VocabSize];
            Agora.Inference.TransformerModelSessions.CreateSession(model, 4).Evaluate([1, 300, 70000], logits);
            Assert.All(logits, v => Assert.True(float.IsFinite(v)));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void SmolLM2ShapeDeclaresItsSizes()
    {
        var shape = SyntheticShape.SmolLM2_135M with { Layers = 1, Vocab = 1024 };
        var file = Path.Combine(Path.GetTempPath(), $"agora-synthetic-{Guid.NewGuid():N}.gguf");
        try
        {
            SyntheticModel.Write(file, shape, GgmlType.F32);
            using var checkpoint = Checkpoint.Open(file);
            var c = checkpoint.Config;
            Assert.Equal((1024, 576, 1536, 9, 3, 64), (c.VocabSize, c.HiddenSize, c.IntermediateSize, c.HeadCount, c.KvHeadCount, c.HeadDim));
            Assert.Null(c.RopeScaling);
            Assert.Null(checkpoint.Find("lm_head.weight"));
            Assert.NotNull(TransformerModel.Load(checkpoint));
        }
        finally { File.Delete(file); }
    }
}
