using System.Text.Json.Nodes;
using Agora.Formats.Safetensors;

namespace Agora.Tests.Cli;

public class ScoreCommandTests
{
    /// <summary>log-softmax of one row of reference logits, in float64.</summary>
    static double LogSoftmax(ReadOnlySpan<float> row, int id)
    {
        double max = double.NegativeInfinity;
        foreach (var v in row) max = Math.Max(max, v);
        double sum = 0;
        foreach (var v in row) sum += Math.Exp(v - max);
        return row[id] - max - Math.Log(sum);
    }

    static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int i = 1; i < row.Length; i++) if (row[i] > row[best]) best = i;
        return best;
    }

    [Theory]
    [InlineData("llama-a")]
    [InlineData("qwen2-a")]
    [InlineData("bloom-a")]
    public void LogprobsAreTheLogSoftmaxOfTheReferenceLogits(string name)
    {
        var dir = Fixtures.Require("models", name);
        var prompt = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "reference.json")))!["prompts"]![0]!;
        var ids = prompt["ids"]!.AsArray().Select(n => (int)n!).ToArray();
        int split = ids.Length / 2;
        var r = CliRunner.Run("score", Path.Combine(dir, "hf"),
            "--context-ids", string.Join(",", ids[..split]), "--continuation-ids", string.Join(",", ids[split..]), "--json");
        Assert.Equal(0, r.ExitCode);
        var json = JsonNode.Parse(r.Out)!;

        using var reference = SafetensorsFile.Open(Path.Combine(dir, "reference_logits.safetensors"));
        var logits = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(reference.TensorData(reference.Get("logits.0")));
        int vocab = logits.Length / ids.Length;
        var tokens = json["tokens"]!.AsArray();
        Assert.Equal(ids.Length - split, tokens.Count);
        double total = 0;
        bool allGreedy = true;
        for (int i = 0; i < tokens.Count; i++)
        {
            int position = split + i;
            var row = logits.Slice((position - 1) * vocab, vocab);
            Assert.Equal(ids[position], (int)tokens[i]!["id"]!);
            double expected = LogSoftmax(row, ids[position]);
            Assert.Equal(expected, (double)tokens[i]!["logprob"]!, 1e-4);
            bool greedy = ArgMax(row) == ids[position];
            Assert.Equal(greedy, (bool)tokens[i]!["is_greedy"]!);
            total += expected;
            allGreedy &= greedy;
        }
        Assert.Equal(total, (double)json["total_logprob"]!, 1e-3);
        Assert.Equal(allGreedy, (bool)json["is_greedy"]!);
    }

    [Fact]
    public void TextAndIdsAgree()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        var text = CliRunner.Run("score", model, "--context", "In the", "--continuation", " beginning", "--json");
        var ids = CliRunner.Run("score", model, "--context-ids", "0,933,261", "--continuation-ids", "2337", "--json");
        Assert.Equal(0, text.ExitCode);
        Assert.Equal(ids.Out, text.Out);
        var table = CliRunner.Run("score", model, "--context", "In the", "--continuation", " beginning");
        Assert.Contains("total logprob", table.Out);
    }

    [Fact]
    public void NeedsOneContextAndOneContinuation()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        CliRunner.AssertCleanFailure(CliRunner.Run("score", model, "--continuation", "x"), "--context");
        CliRunner.AssertCleanFailure(CliRunner.Run("score", model, "--context", "x", "--context-ids", "1", "--continuation", "y"), "--context");
        CliRunner.AssertCleanFailure(CliRunner.Run("score", model, "--context-ids", "1,x", "--continuation-ids", "2"), "'x'");
        CliRunner.AssertCleanFailure(CliRunner.Run("score", model, "--context-ids", "1", "--continuation-ids", "99999"), "99999");
    }
}
