using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>Full fine-tuning through the library: its checkpoints hold every weight, and a resume continues bit for bit.</summary>
public sealed class FullFineTuningTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("agora-full-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void AResumedFullRunEndsWithTheSameWeightsAndLosses()
    {
        var model = Fixtures.Require("models", "llama-a", "hf");
        var data = Path.Combine(_folder, "train.jsonl");
        File.WriteAllText(data, """
            {"input_ids": [1, 20, 300, 41, 5], "labels": [-100, -100, 300, 41, 5]}
            {"input_ids": [7, 8, 9, 10, 11, 12, 13]}
            {"input_ids": [100, 200, 300, 400]}
            """);
        var options = new FineTuningOptions { Format = Agora.Training.Data.DatasetFormat.Tokens, Full = true, Steps = 4, SaveEvery = 2, BatchSize = 2, LearningRate = 1e-3f, Schedule = ScheduleKind.Cosine };
        string whole = Path.Combine(_folder, "whole"), resumed = Path.Combine(_folder, "resumed");

        using var first = new FineTuning(model, data, whole, options, resume: false);
        Assert.Null(first.Adapter);
        first.Run(_ => { });
        var checkpoint = Path.Combine(whole, "checkpoint-2");
        Assert.True(File.Exists(Path.Combine(checkpoint, FineTuning.FullWeightsFile)));
        Assert.False(File.Exists(Path.Combine(checkpoint, "adapter_model.safetensors")));
        using (var weights = Agora.Formats.Safetensors.SafetensorsFile.Open(Path.Combine(checkpoint, FineTuning.FullWeightsFile)))
            Assert.Equal(first.Trainable.Parameters.Select(p => p.Name).Order(StringComparer.Ordinal), weights.Tensors.Select(t => t.Name).Order(StringComparer.Ordinal));

        Directory.CreateDirectory(Path.Combine(resumed, "checkpoint-2"));
        foreach (var file in Directory.GetFiles(checkpoint)) File.Copy(file, Path.Combine(resumed, "checkpoint-2", Path.GetFileName(file)));
        using var second = new FineTuning(model, data, resumed, options, resume: true);
        Assert.Equal(2, second.StartStep);
        var steps = new List<int>();
        second.Run(p => { if (p is StepTaken s) steps.Add(s.Step); });
        Assert.Equal([3, 4], steps);
        Assert.Equal(first.Losses, second.Losses);
        for (int i = 0; i < first.Trainable.Parameters.Count; i++)
            Assert.True(first.Trainable.Parameters[i].Value.AsSpan().SequenceEqual(second.Trainable.Parameters[i].Value), first.Trainable.Parameters[i].Name);
    }
}
