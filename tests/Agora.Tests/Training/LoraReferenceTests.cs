using System.Text.Json.Nodes;
using Agora.Tests.Models;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>
/// Training from each fixture's PEFT adapter on the reference batch reproduces what PyTorch and PEFT computed
/// (reference.json → lora, reference_lora.safetensors): the loss, every LoRA gradient, and five AdamW steps.
/// </summary>
public sealed class LoraReferenceTests
{
    public static TheoryData<string> Models() => ["llama-a", "qwen2-a", "bloom-a"];

    sealed record Setup(TrainingFixture Fixture, ModelReference Reference) : IDisposable
    {
        public TrainableTransformer Training => Fixture.Training;
        public TrainingBatch Batch { get; } = Fixture.Batch;
        public JsonNode Lora => Fixture.Lora;
        public void Dispose() => Fixture.Dispose();
    }

    static Setup Open(string model) => new(new TrainingFixture(model), ModelReference.Load(model));

    /// <summary>PEFT's in-memory name of a parameter (with the adapter name "default").</summary>
    static string PeftName(TrainableParameter p) =>
        "base_model.model." + p.Name.Replace(".lora_A.weight", ".lora_A.default.weight").Replace(".lora_B.weight", ".lora_B.default.weight");

    [Theory]
    [MemberData(nameof(Models))]
    public void LossMatchesTheReference(string model)
    {
        using var s = Open(model);
        double expected = (double)s.Lora["loss_before"]!;
        double loss = s.Training.Loss(s.Batch);
        Assert.True(Math.Abs(loss - expected) / expected < 1e-4, $"loss {loss} vs {expected}");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void EveryLoraGradientMatchesTheReference(string model)
    {
        using var s = Open(model);
        s.Training.ZeroGradients();
        double loss = s.Training.AccumulateGradients(s.Batch, s.Batch.ScoredCount) / s.Batch.ScoredCount;
        Assert.True(Math.Abs(loss - (double)s.Lora["loss_before"]!) / loss < 1e-4);
        Assert.NotEmpty(s.Training.Parameters);
        var errors = new List<string>();
        double worst = 0;
        foreach (var p in s.Training.Parameters)
        {
            double error = ModelReference.RelativeError(p.Gradient, s.Reference.Tensor("grad." + PeftName(p), "reference_lora.safetensors"));
            worst = Math.Max(worst, error);
            if (!(error < 1e-3)) errors.Add($"{p.Name}: {error:0.0e0}");
        }
        Assert.True(errors.Count == 0, string.Join("; ", errors));
        TestContext.Current.TestOutputHelper?.WriteLine($"{model}: worst gradient relative error {worst:0.00e0}");
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void FiveAdamWStepsMatchTheReference(string model)
    {
        using var s = Open(model);
        var o = s.Lora["optimizer"]!;
        var betas = o["betas"]!.AsArray();
        var options = new AdamWOptions((float)betas[0]!, (float)betas[1]!, (float)o["eps"]!, (float)o["weight_decay"]!);
        var trainer = new Trainer(s.Training, options, new LearningRateSchedule(ScheduleKind.Constant, (float)o["lr"]!, 0, 5));
        var expectedLosses = s.Lora["losses_steps_1_to_5_before_update"]!.AsArray().Select(v => (double)v!).ToArray();
        Assert.Equal(5, expectedLosses.Length);
        for (int step = 0; step < 5; step++)
        {
            double loss = trainer.Step(s.Batch).Loss;
            TestContext.Current.TestOutputHelper?.WriteLine($"{model} step {step + 1}: loss relative error {Math.Abs(loss - expectedLosses[step]) / expectedLosses[step]:0.00e0}");
            Assert.True(Math.Abs(loss - expectedLosses[step]) / expectedLosses[step] < 1e-4, $"step {step + 1}: loss {loss} vs {expectedLosses[step]}");
        }
        double worst = 0;
        var errors = new List<string>();
        foreach (var p in s.Training.Parameters)
        {
            double error = ModelReference.RelativeError(p.Value, s.Reference.Tensor("after5." + PeftName(p), "reference_lora.safetensors"));
            worst = Math.Max(worst, error);
            if (!(error < 1e-3)) errors.Add($"{p.Name}: {error:0.0e0}");
        }
        Assert.True(errors.Count == 0, string.Join("; ", errors));
        TestContext.Current.TestOutputHelper?.WriteLine($"{model}: worst parameter relative error after 5 steps {worst:0.00e0}");
    }
}
