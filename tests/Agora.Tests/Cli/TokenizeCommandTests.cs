using System.Text.Json;
using System.Text.Json.Nodes;

namespace Agora.Tests.Cli;

public class TokenizeCommandTests
{
    static (string Tokenizer, JsonArray Cases) Llama3()
    {
        var dir = Fixtures.Require("tokenizers", "llama3");
        var cases = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "cases.json")))!["cases"]!.AsArray();
        return (Path.Combine(dir, "tokenizer.json"), cases);
    }

    static int[] Ids(JsonNode? node) => node!.AsArray().Select(n => (int)n!).ToArray();

    [Fact]
    public void JsonOutputMatchesReferenceIdsAndTokens()
    {
        var (tokenizer, cases) = Llama3();
        foreach (var c in cases.Take(12))
        {
            string text = (string)c!["text"]!;
            var r = CliRunner.Run("tokenize", tokenizer, "--text", text, "--no-special", "--json");
            Assert.Equal(0, r.ExitCode);
            var json = JsonNode.Parse(r.Out)!;
            Assert.Equal(Ids(c["ids"]), Ids(json["ids"]));
            Assert.Equal(c["tokens"]!.AsArray().Select(t => (string)t!), json["tokens"]!.AsArray().Select(t => (string)t!));
        }
    }

    [Fact]
    public void WithSpecialTokensMatchesReference()
    {
        var (tokenizer, cases) = Llama3();
        var c = cases[6]!;
        var r = CliRunner.Run("tokenize", tokenizer, "--text", (string)c["text"]!, "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.Equal(Ids(c["ids_with_special"]), Ids(JsonNode.Parse(r.Out)!["ids"]));
    }

    [Fact]
    public void TextFileIsReadWhole()
    {
        var (tokenizer, cases) = Llama3();
        var c = cases.First(x => ((string)x!["text"]!).Contains('\n'))!;
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, (string)c["text"]!);
            var r = CliRunner.Run("tokenize", tokenizer, "--text-file", file, "--no-special", "--json");
            Assert.Equal(Ids(c["ids"]), Ids(JsonNode.Parse(r.Out)!["ids"]));
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void BatchWritesOneLinePerInputInOrder()
    {
        var (tokenizer, cases) = Llama3();
        var inputs = cases.Take(20).ToList();
        string stdin = string.Join("\n", inputs.Select(c => new JsonObject { ["text"] = (string)c!["text"]! }.ToJsonString()));
        var r = CliRunner.RunWithInput(stdin, "tokenize", tokenizer, "--batch", "--no-special");
        Assert.Equal(0, r.ExitCode);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(inputs.Count, lines.Length);
        for (int i = 0; i < inputs.Count; i++)
            Assert.Equal(Ids(inputs[i]!["ids"]), Ids(JsonNode.Parse(lines[i])!["ids"]));
    }

    [Fact]
    public void BatchNamesTheBadLine()
    {
        var (tokenizer, _) = Llama3();
        var r = CliRunner.RunWithInput("{\"text\":\"ok\"}\n{\"txt\":1}\n", "tokenize", tokenizer, "--batch");
        CliRunner.AssertCleanFailure(r, "line 2");
    }

    [Fact]
    public void NeedsExactlyOneInput()
    {
        var (tokenizer, _) = Llama3();
        CliRunner.AssertCleanFailure(CliRunner.Run("tokenize", tokenizer), "exactly one of");
        CliRunner.AssertCleanFailure(CliRunner.Run("tokenize", tokenizer, "--text", "a", "--batch"), "exactly one of");
    }

    [Fact]
    public void GgufAndFolderSourcesWork()
    {
        var gguf = Fixtures.Require("tokenizers", "llama-cpp", "ggml-vocab-gpt-2.gguf");
        var r = CliRunner.Run("tokenize", gguf, "--text", "Hello world", "--json");
        Assert.Equal(0, r.ExitCode);
        Assert.NotEmpty(JsonNode.Parse(r.Out)!["ids"]!.AsArray());

        var folder = Fixtures.Require("models", "llama-a", "hf");
        r = CliRunner.Run("tokenize", folder, "--text", "Hello world");
        Assert.Equal(0, r.ExitCode);
        Assert.Contains("->", r.Out);
    }

    [Fact]
    public void MissingOrCorruptSourceFailsCleanly()
    {
        CliRunner.AssertCleanFailure(CliRunner.Run("tokenize", "/nonexistent/tokenizer.json", "--text", "x"), "/nonexistent/tokenizer.json");
        var file = Path.Combine(Path.GetTempPath(), $"agora-bad-{Guid.NewGuid():N}.json");
        try
        {
            File.WriteAllText(file, "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
            CliRunner.AssertCleanFailure(CliRunner.Run("tokenize", file, "--text", "x"), file);
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void UnknownFlagIsRefused()
    {
        var r = CliRunner.Run("tokenize", "x", "--text", "a", "--frobnicate");
        Assert.NotEqual(0, r.ExitCode);
        Assert.Contains("--frobnicate", r.Err + r.Out);
    }
}
