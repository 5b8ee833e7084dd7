using Agora.Inference;
using Agora.Formats.Checkpoint;
using Agora.Models;

namespace Agora.Tests.Models;

/// <summary>An argmax loop through the session reproduces the reference's greedy continuations.</summary>
public class GreedyTests
{
    /// <summary>Below this top-1/top-2 margin an fp32 engine may legitimately pick the other token.</summary>
    const double DecisiveMargin = 1e-3;

    public static TheoryData<string, string> Checkpoints() => new()
    {
        { "llama-a", "hf" }, { "llama-a", "model-f32.gguf" },
        { "qwen2-a", "hf" }, { "qwen2-a", "model-f32.gguf" },
        { "bloom-a", "hf" }, { "bloom-a", "model-f32.gguf" },
        { "kjv-llama", "hf" }, { "kjv-llama", "model-f16.gguf" },
    };

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void GreedyIdsMatchTheReference(string model, string file)
    {
        var reference = ModelReference.Load(model);
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, file));
        var engine = TransformerModel.Load(checkpoint);
        int checkedPrompts = 0;
        foreach (var prompt in reference.Prompts.Where(p => p.GreedyMinMargin > DecisiveMargin))
        {
            var ids = ModelReference.Greedy(engine.CreateSession(), prompt.Ids, prompt.GreedyIds.Length);
            Assert.Equal(prompt.GreedyIds, ids);
            checkedPrompts++;
        }
        Assert.True(checkedPrompts >= 3, $"only {checkedPrompts} prompts have a decisive margin");
    }

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void LogitsAlongTheGreedyPathMatchTheReference(string model, string file)
    {
        var reference = ModelReference.Load(model);
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, file));
        var engine = TransformerModel.Load(checkpoint);
        double tolerance = file.Contains("f16") ? 1e-2 : 1e-4;
        foreach (var prompt in reference.Prompts)
        {
            var logits = ModelReference.AllLogits(engine.CreateSession(), [.. prompt.Ids, .. prompt.GreedyIds]);
            double error = ModelReference.RelativeError(logits, reference.Tensor($"greedy_logits.{prompt.Index}"));
            TestContext.Current.TestOutputHelper?.WriteLine($"{model} {file} prompt {prompt.Index}: relative error {error:0.0e0}");
            Assert.True(error < tolerance, $"prompt {prompt.Index}: relative error {error:0.0e0}");
        }
    }
}
