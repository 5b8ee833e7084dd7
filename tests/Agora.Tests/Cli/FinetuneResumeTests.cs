using System.Diagnostics;
using System.Text.Json.Nodes;

namespace Agora.Tests.Cli;

/// <summary>
/// Checkpoints and --resume: a run killed with SIGKILL after a checkpoint and resumed ends with the same adapter bytes
/// and losses as a run never stopped; leftovers of an interrupted checkpoint write are ignored and removed; a resume
/// with other arguments, data or no checkpoint is refused.
/// </summary>
public sealed class FinetuneResumeTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("agora-resume-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    static string Model => Fixtures.Require("models", "llama-a", "hf");

    /// <summary>Alpaca records: each step takes long enough that the killed run is still training when the kill lands.</summary>
    string AlpacaData()
    {
        var path = Path.Combine(_folder, "alpaca.jsonl");
        File.WriteAllLines(path,
        [
            """{"instruction": "What is the capital of France?", "output": "Paris."}""",
            """{"instruction": "Say hi.", "input": "politely", "output": "Hello there."}""",
            """{"instruction": "Count to three.", "output": "One, two, three."}""",
            """{"instruction": "Name a colour.", "output": "Blue."}""",
            """{"instruction": "Add two and two.", "output": "Four."}""",
            """{"instruction": "Name a fruit.", "output": "An apple."}""",
        ]);
        return path;
    }

    /// <summary>Short pre-tokenized examples, for the tests whose timing does not matter: quick to train on.</summary>
    string Data()
    {
        var path = Path.Combine(_folder, "train.jsonl");
        File.WriteAllLines(path, Enumerable.Range(0, 6).Select(i =>
            $$"""{"input_ids": [{{string.Join(", ", Enumerable.Range(10 + 37 * i, 6 + i))}}], "labels": [-100, -100, {{string.Join(", ", Enumerable.Range(12 + 37 * i, 4 + i))}}]}"""));
        return path;
    }

    /// <summary>Four training examples (two held out) in batches of two: the 8 steps cross 4 epochs, so the resumed shuffle matters too.</summary>
    static string[] Arguments(string data, string output, params string[] extra) =>
        ["finetune", Model, "--data", data, "--out", output, "--save-every", "2", "--steps", "8", "-t", "2", "--batch", "2",
         "--val-split", "0.33", "--targets", "q_proj,v_proj,down_proj", "--lr", "1e-2", .. extra];

    static ProcessStartInfo Agora(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") ?? "dotnet")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "agora.dll"));
        foreach (var a in arguments) start.ArgumentList.Add(a);
        return start;
    }

    /// <summary>Runs agora to the end in a child process; returns its stderr.</summary>
    static async Task<string> RunToEnd(IEnumerable<string> arguments)
    {
        using var process = Process.Start(Agora(arguments))!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var error = await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);
        await output;
        Assert.True(process.ExitCode == 0, error);
        return error;
    }

    static string Record(string output, string key) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(output, "training.json")))![key]!.ToJsonString();

    [Fact]
    public async Task AKilledRunResumesToTheSameAdapterAndLosses()
    {
        var data = AlpacaData();
        string whole = Path.Combine(_folder, "whole"), killed = Path.Combine(_folder, "killed");
        await RunToEnd(Arguments(data, whole));

        // SIGKILL the moment the step-4 checkpoint is announced, while the run goes on training.
        using (var process = Process.Start(Agora(Arguments(data, killed)))!)
        {
            var drain = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
            var seen = new List<string>();
            while (await process.StandardError.ReadLineAsync(TestContext.Current.CancellationToken) is { } line)
            {
                seen.Add(line);
                if (line.StartsWith("checkpoint ", StringComparison.Ordinal) && line.EndsWith("checkpoint-4", StringComparison.Ordinal))
                {
                    process.Kill(entireProcessTree: true);
                    break;
                }
            }
            await process.WaitForExitAsync(TestContext.Current.CancellationToken);
            await drain;
            Assert.True(seen.Count > 0 && seen[^1].EndsWith("checkpoint-4", StringComparison.Ordinal), string.Join('\n', seen));
        }
        Assert.False(File.Exists(Path.Combine(killed, "training.json")), "the run finished before it was killed");
        Assert.True(Directory.Exists(Path.Combine(killed, "checkpoint-4")));

        var resumed = await RunToEnd(Arguments(data, killed, "--resume"));
        Assert.Matches(@"resuming from .*checkpoint-(4|6) \(step (4|6) of 8\)", resumed);
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "adapter_model.safetensors")), File.ReadAllBytes(Path.Combine(killed, "adapter_model.safetensors")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(whole, "adapter_config.json")), File.ReadAllBytes(Path.Combine(killed, "adapter_config.json")));
        Assert.Equal(Record(whole, "losses"), Record(killed, "losses"));
        Assert.Equal(8, JsonNode.Parse(Record(killed, "losses"))!.AsArray().Count);
        Assert.Equal(Record(whole, "eval_losses"), Record(killed, "eval_losses"));
        Assert.Equal(4, JsonNode.Parse(Record(killed, "eval_losses"))!.AsArray().Count);
        Assert.Equal(["checkpoint-6", "checkpoint-8"], Directory.GetDirectories(killed).Select(Path.GetFileName).Order());
    }

    /// <summary>Also checks a checkpoint's layout: a PEFT folder, the optimizer's moments, the state and arguments.</summary>
    [Fact]
    public void ALeftoverTmpCheckpointIsIgnoredAndRemoved()
    {
        var data = Data();
        string first = Path.Combine(_folder, "first"), second = Path.Combine(_folder, "second");
        string[] Args(string output, params string[] extra) =>
            ["finetune", Model, "--data", data, "--format", "tokens", "--out", output, "--save-every", "2", "--steps", "4", "--batch", "2", .. extra];
        var r = CliRunner.Run(Args(first));
        Assert.True(r.ExitCode == 0, r.Err);
        var checkpoint = Path.Combine(first, "checkpoint-2");
        Assert.Equal(["adapter_config.json", "adapter_model.safetensors", "optimizer.safetensors", "trainer_state.json", "training_args.json"],
            Directory.GetFiles(checkpoint).Select(Path.GetFileName).Order());
        var state = JsonNode.Parse(File.ReadAllText(Path.Combine(checkpoint, "trainer_state.json")))!;
        Assert.Equal(2, (int)state["global_step"]!);
        Assert.Equal(2, state["losses"]!.AsArray().Count);
        Assert.Equal(6, state["data_position"]!["order"]!.AsArray().Count);
        Assert.Equal(4, state["data_position"]!["random"]!.AsArray().Count);

        // As if killed while writing checkpoint-4: checkpoint-2 complete, checkpoint-4.tmp half written.
        Directory.CreateDirectory(second);
        CopyFolder(checkpoint, Path.Combine(second, "checkpoint-2"));
        var partial = Directory.CreateDirectory(Path.Combine(second, "checkpoint-4.tmp")).FullName;
        File.WriteAllText(Path.Combine(partial, "trainer_state.json"), """{"global_step": 4, "losses": [""");
        File.WriteAllBytes(Path.Combine(partial, "adapter_model.safetensors"), new byte[10]);

        r = CliRunner.Run(Args(second, "--resume"));
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("checkpoint-2 (step 2 of 4)", r.Err);
        Assert.DoesNotContain("step 2/4", r.Err);
        Assert.Contains("step 3/4", r.Err);
        Assert.False(Directory.Exists(partial));
        Assert.True(File.Exists(Path.Combine(second, "checkpoint-4", "trainer_state.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(first, "adapter_model.safetensors")), File.ReadAllBytes(Path.Combine(second, "adapter_model.safetensors")));
        Assert.Equal(Record(first, "losses"), Record(second, "losses"));
    }

    static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from)) File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }

    [Fact]
    public void AResumeWithOtherArgumentsOrDataOrNoCheckpointIsRefused()
    {
        var data = Data();
        var output = Path.Combine(_folder, "run");
        string[] Args(string dataPath, params string[] extra) =>
            ["finetune", Model, "--data", dataPath, "--format", "tokens", "--out", output, "--save-every", "1", "--steps", "1", .. extra];
        var r = CliRunner.Run(Args(data));
        Assert.True(r.ExitCode == 0, r.Err);

        CliRunner.AssertCleanFailure(CliRunner.Run(Args(data, "--resume", "--lr", "1e-3")), "--lr is 0.001, but checkpoint-1 was trained with 0.0002");
        CliRunner.AssertCleanFailure(CliRunner.Run(Args(data, "--resume", "--r", "4")), "--r is 4, but checkpoint-1 was trained with 8");
        CliRunner.AssertCleanFailure(CliRunner.Run(Args(data, "--resume", "--no-shuffle")), "--no-shuffle is true");
        var other = Path.Combine(_folder, "other.jsonl");
        File.WriteAllText(other, File.ReadAllText(data) + """{"input_ids": [1, 2, 3]}""");
        CliRunner.AssertCleanFailure(CliRunner.Run(Args(other, "--resume")), "the training data is not the data checkpoint-1 was trained on");
        CliRunner.AssertCleanFailure(CliRunner.Run(Args(data)), "holds checkpoints of an earlier run");
        var empty = Directory.CreateDirectory(Path.Combine(_folder, "empty")).FullName;
        CliRunner.AssertCleanFailure(CliRunner.Run("finetune", Model, "--data", data, "--format", "tokens", "--out", empty, "--resume"), "no checkpoint to resume from");

        // What only changes saving and evaluation may differ.
        r = CliRunner.Run("finetune", Model, "--data", data, "--format", "tokens", "--out", output, "--steps", "1", "--resume", "--save-every", "5", "--save-total-limit", "3");
        Assert.True(r.ExitCode == 0, r.Err);
        Assert.Contains("step 1 of 1", r.Err);
    }
}
