using System.Text.Json.Nodes;

namespace Agora.Tests.Cli;

public class GenerateCommandTests
{
    static JsonNode KjvReference() =>
        JsonNode.Parse(File.ReadAllText(Fixtures.Require("models", "kjv-llama", "reference.json")))!;

    [Fact]
    public void GreedyContinuationMatchesTransformers()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        foreach (var prompt in KjvReference()["prompts"]!.AsArray().Take(2))
        {
            var r = CliRunner.Run("generate", model, "-p", (string)prompt!["text"]!, "--temp", "0", "-n", "48");
            Assert.Equal(0, r.ExitCode);
            Assert.Equal((string)prompt["greedy_text"]!, r.Out);
        }
    }

    [Fact]
    public void SameSeedSameText()
    {
        var model = Fixtures.Require("models", "kjv-llama", "model-f16.gguf");
        string[] args = ["generate", model, "-p", "And God said", "-n", "24", "--temp", "0.9", "--seed", "7"];
        var first = CliRunner.Run(args);
        var second = CliRunner.Run(args);
        Assert.Equal(0, first.ExitCode);
        Assert.NotEmpty(first.Out);
        Assert.Equal(first.Out, second.Out);
    }

    [Fact]
    public void StopStringEndsTheTextBeforeIt()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        var prompt = KjvReference()["prompts"]![0]!;
        var r = CliRunner.Run("generate", model, "-p", (string)prompt["text"]!, "--temp", "0", "-n", "48", "--stop", "Galilee");
        Assert.Equal(0, r.ExitCode);
        var full = (string)prompt["greedy_text"]!;
        Assert.Equal(full[..full.IndexOf("Galilee", StringComparison.Ordinal)], r.Out);
    }

    [Fact]
    public void LoraAtScaleZeroChangesNothingAndAtOneChangesTheText()
    {
        var model = Fixtures.Require("models", "llama-a", "hf");
        var lora = Fixtures.Require("models", "llama-a", "lora");
        string[] common = ["generate", model, "-p", "The quick brown fox", "--temp", "0", "-n", "12"];
        var plain = CliRunner.Run(common);
        var zero = CliRunner.Run([.. common, "--lora", lora + ":0"]);
        var one = CliRunner.Run([.. common, "--lora", lora]);
        var merged = CliRunner.Run([.. common, "--lora", lora, "--merge-lora"]);
        Assert.Equal(0, plain.ExitCode);
        Assert.Equal(plain.Out, zero.Out);
        Assert.NotEqual(plain.Out, one.Out);
        Assert.Equal(one.Out, merged.Out);
    }

    [Fact]
    public void PromptLongerThanContextIsRefused()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        CliRunner.AssertCleanFailure(CliRunner.Run("generate", model, "-p", "In the beginning God created", "--ctx-size", "3"), "context");
    }

    [Fact]
    public void BadArgumentsAreRefused()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        CliRunner.AssertCleanFailure(CliRunner.Run("generate", model, "-p", "x", "--temp", "-1"), "emperature");
        CliRunner.AssertCleanFailure(CliRunner.Run("generate", model, "-p", "x", "-n", "0"), "-n");
        CliRunner.AssertCleanFailure(CliRunner.Run("generate", model, "-p", "x", "--lora", "/nonexistent/adapter"), "/nonexistent/adapter");
        CliRunner.AssertCleanFailure(CliRunner.Run("generate", "/nonexistent/model.gguf", "-p", "x"), "/nonexistent/model.gguf");
        var r = CliRunner.Run("generate", model, "-p", "x", "--bogus");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--bogus", r.Err + r.Out);
    }

    [Fact]
    public void AdapterForAnotherModelIsRefused()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        var lora = Fixtures.Require("models", "qwen2-a", "lora");
        var r = CliRunner.Run("generate", model, "-p", "x", "--lora", lora);
        Assert.Equal(1, r.ExitCode);
        Assert.StartsWith("error: ", r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }
}
