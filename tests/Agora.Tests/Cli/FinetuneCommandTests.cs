using System.Text.Json.Nodes;
using Agora.Adapters;
using Agora.Formats.Checkpoint;

namespace Agora.Tests.Cli;

/// <summary>agora finetune on llama-a with a tiny dataset: trains, writes a loadable PEFT adapter and its record, refuses bad input.</summary>
public sealed class FinetuneCommandTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("agora-finetune-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    static string Model => Fixtures.Require("models", "llama-a", "hf");

    string Data(string text)
    {
        var path = Path.Combine(_folder, $"{Guid.NewGuid():N}.jsonl");
        File.WriteAllText(path, text);
        return path;
    }

    const string OneExample = """{"instruction": "What is the capital of France?", "output": "Paris is the capital of France."}""";

    [Fact]
    public void TrainsAndWritesAnAdapterThatLoadsBack()
    {
        var data = Data(OneExample);
        var output = Path.Combine(_folder, "out");
        var r = CliRunner.Run("finetune", Model, "--data", data, "--out", output, "--steps", "4", "--lr", "1e-2",
            "--schedule", "constant", "--targets", "q_proj,v_proj", "--r", "4", "--alpha", "8");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("step 4/4", r.Err);
        Assert.Contains("tokens/s", r.Err);

        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training.json")))!;
        var losses = record["losses"]!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(4, losses.Length);
        for (int i = 1; i < losses.Length; i++) Assert.True(losses[i] < losses[i - 1], $"losses {string.Join(", ", losses)}");
        Assert.True(losses[^1] < losses[0] * 0.85, $"losses {string.Join(", ", losses)}");
        foreach (var key in new[] { "arguments", "seed", "data_sha256", "model_sha256" }) Assert.NotNull(record[key]);
        Assert.Equal(4, (int)record["arguments"]!["r"]!);
        Assert.Equal(64, ((string)record["data_sha256"]!).Length);
        Assert.StartsWith("<svg", File.ReadAllText(Path.Combine(output, "loss.svg")));

        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "adapter_config.json")))!;
        Assert.Equal("CAUSAL_LM", (string)config["task_type"]!);
        Assert.Equal(8, (int)config["lora_alpha"]!);
        Assert.Equal(["q_proj", "v_proj"], config["target_modules"]!.AsArray().Select(v => (string)v!));
        using var checkpoint = Checkpoint.Open(Model);
        var adapter = LoraAdapter.Load(output, checkpoint);
        Assert.Equal(2 * checkpoint.Config.LayerCount, adapter.Weights.Count);
        Assert.Contains(adapter.Weights, w => w.B.Any(b => b != 0));

        var generated = CliRunner.Run("generate", Model, "--lora", output, "-p", "Hello", "-n", "4", "--temp", "0");
        Assert.True(generated.ExitCode == 0, generated.Err);
        var plain = CliRunner.Run("generate", Model, "-p", "Hello", "-n", "4", "--temp", "0");
        Assert.Equal(0, plain.ExitCode);
    }

    [Fact]
    public void TheSameSeedGivesTheSameLossesWithOrWithoutGradientCheckpointingAndInitAdapterContinues()
    {
        var data = Data(OneExample + "\n" + """{"instruction": "Say hi.", "input": "politely", "output": "Hello there."}""");
        string Run(string name, params string[] extra)
        {
            var output = Path.Combine(_folder, name);
            var r = CliRunner.Run(["finetune", Model, "--data", data, "--out", output, "--steps", "2", "--batch", "2", .. extra]);
            Assert.True(r.ExitCode == 0, r.Err);
            return output;
        }
        string Losses(string dir) => JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "training.json")))!["losses"]!.ToJsonString();
        var a = Run("a");
        Assert.Equal(Losses(a), Losses(Run("b")));
        // Gradient checkpointing recomputes activations: the same adapter, bit for bit.
        var recomputed = Run("recomputed", "--gradient-checkpointing");
        Assert.Equal(Losses(a), Losses(recomputed));
        Assert.Equal(File.ReadAllBytes(Path.Combine(a, "adapter_model.safetensors")), File.ReadAllBytes(Path.Combine(recomputed, "adapter_model.safetensors")));
        var continued = Run("c", "--init-adapter", a);
        Assert.NotEqual(Losses(a), Losses(continued));
    }

    [Fact]
    public void BadFlagsTargetsAndDataAreRefusedCleanly()
    {
        var good = Data(OneExample);
        var output = Path.Combine(_folder, "bad");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", good, "--out", output, "--targets", "q_proj,query_key_value"), "valid targets");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", good, "--out", output, "--format", "csv"), "unknown data format 'csv'");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", good, "--out", output, "--schedule", "step"), "unknown schedule 'step'");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", good, "--out", output, "--batch", "0"), "--batch must be positive");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", good, "--out", output, "--epochs", "1", "--steps", "1"), "not both");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", good, "--out", output, "--resume"), "no checkpoint to resume from");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", Path.Combine(_folder, "none.jsonl"), "--out", output), "no such data file");
        var bad = Data(OneExample + "\n{\"instruction\": \"x\"\n");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", bad, "--out", output), $"{bad}: line 2: not valid JSON");
        Assert.False(Directory.Exists(output));
    }

    [Fact]
    public void AnAdapterOfAnotherArchitectureIsRefused()
    {
        var bloomAdapter = Fixtures.Require("models", "bloom-a", "lora");
        var r = CliRunner.Run("finetune", Model, "--data", Data(OneExample), "--out", Path.Combine(_folder, "x"), "--init-adapter", bloomAdapter);
        CliRunner.AssertCleanFailure(r, "is the adapter for another architecture?");
        Assert.Contains("'transformer.h.", r.Err);
    }

    [Fact]
    public void LongExamplesAreTruncatedAndCountedAndEmptyResponsesRefused()
    {
        var output = Path.Combine(_folder, "long");
        var tokens = Data($$"""{"input_ids": [{{string.Join(", ", Enumerable.Range(1, 20))}}]}""" + "\n" + """{"input_ids": [1, 2, 3]}""");
        var r = CliRunner.Run("finetune", Model, "--data", tokens, "--format", "tokens", "--out", output, "--steps", "1", "--max-len", "16");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("data: 2 examples, 19 tokens, 1 truncated to 16 tokens", r.Err);
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training.json")))!;
        Assert.Equal(1, (int)record["truncated"]!);

        var empty = Data(OneExample + "\n" + """{"instruction": "Say nothing.", "output": ""}""");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", empty, "--out", Path.Combine(_folder, "empty")),
            $"{empty}: line 2: the response ('output') is empty");
        r = CliRunner.Run("finetune", Model, "--data", empty, "--out", Path.Combine(_folder, "skipped"), "--steps", "1", "--skip-bad-lines");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("data: 1 examples, ", r.Err);
        Assert.Contains("1 malformed skipped", r.Err);
    }

    [Fact]
    public void ValidationAndCheckpointFlagsAreCheckedAndEvalLossesRecorded()
    {
        var data = Data(string.Join("\n", Enumerable.Range(1, 4).Select(i => $$"""{"instruction": "Count to {{i}}.", "output": "{{string.Join(", ", Enumerable.Range(1, i))}}"}""")));
        var output = Path.Combine(_folder, "eval");
        var r = CliRunner.Run("finetune", Model, "--data", data, "--out", output, "--steps", "3", "--val-split", "0.5", "--eval-every", "2", "--save-every", "0");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("; 2 validation examples", r.Err);
        Assert.Contains("eval after step 2: loss ", r.Err);
        Assert.Contains("eval after step 3: loss ", r.Err);
        Assert.DoesNotContain("checkpoint", r.Err);
        var record = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training.json")))!;
        Assert.Equal([2, 3], record["eval_losses"]!.AsArray().Select(e => (int)e!["step"]!));
        Assert.Equal(2, (int)record["examples"]!);
        Assert.Contains("validation loss", File.ReadAllText(Path.Combine(output, "loss.svg")));

        var bad = Path.Combine(_folder, "bad");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--out", bad, "--val-split", "1"), "--val-split 1 must be a fraction in [0, 1)");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--out", bad, "--eval-every", "2"), "--eval-every needs a validation set");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--out", bad, "--val-split", "0.5", "--val-data", data), "not both");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--out", bad, "--val-data", Path.Combine(_folder, "none.jsonl")), "no such validation data file");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--out", bad, "--save-every", "-1"), "--save-every -1 must be 0");
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--out", bad, "--save-total-limit", "0"), "--save-total-limit must be positive");
        Assert.False(Directory.Exists(bad));
    }
}
