using Agora.Inference;
using Agora.Formats.Checkpoint;
using Agora.Models;

namespace Agora.Tests.Models;

/// <summary>The engine computes what Hugging Face transformers computes, from every checkpoint form of the fixtures.</summary>
public class ReferenceLogitsTests
{
    public static TheoryData<string, string, double> Checkpoints() => new()
    {
        { "llama-a", "hf", 1e-4 }, { "llama-a", "model-f32.gguf", 1e-4 }, { "llama-a", "model-f16.gguf", 1e-2 },
        { "qwen2-a", "hf", 1e-4 }, { "qwen2-a", "model-f32.gguf", 1e-4 }, { "qwen2-a", "model-f16.gguf", 1e-2 },
        { "bloom-a", "hf", 1e-4 }, { "bloom-a", "model-f32.gguf", 1e-4 }, { "bloom-a", "model-f16.gguf", 1e-2 },
    };

    [Theory]
    [MemberData(nameof(Checkpoints))]
    public void LogitsAtEveryPositionMatchTheReference(string model, string file, double tolerance)
    {
        var reference = ModelReference.Load(model);
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, file));
        var engine = TransformerModel.Load(checkpoint);
        var errors = new List<double>();
        foreach (var prompt in reference.Prompts)
        {
            var logits = ModelReference.AllLogits(engine.CreateSession(), prompt.Ids);
            errors.Add(ModelReference.RelativeError(logits, reference.Tensor($"logits.{prompt.Index}")));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"{model} {file}: relative errors {string.Join(", ", errors.Select(e => e.ToString("0.0e0")))}");
        Assert.All(errors, e => Assert.True(e < tolerance, $"relative error {e:0.0e0} ≥ {tolerance} (all: {string.Join(", ", errors)})"));
    }
}
