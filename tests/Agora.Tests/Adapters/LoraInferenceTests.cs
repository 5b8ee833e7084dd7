using Agora.Inference;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Models;
using Agora.Tests.Models;

namespace Agora.Tests.Adapters;

/// <summary>The engine with the fixture adapters applied computes what PEFT computed (reference_lora.safetensors).</summary>
public sealed class LoraInferenceTests
{
    public static TheoryData<string, string, bool> Cases()
    {
        var cases = new TheoryData<string, string, bool>();
        foreach (var model in new[] { "llama-a", "qwen2-a", "bloom-a" })
            foreach (var adapter in new[] { "lora", "lora-f32.gguf" })
                foreach (var merge in new[] { false, true })
                    cases.Add(model, adapter, merge);
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void LogitsWithTheAdapterMatchTheReference(string model, string adapterFile, bool merge)
    {
        var reference = ModelReference.Load(model);
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        var adapter = LoraAdapter.Load(Fixtures.Require("models", model, adapterFile), checkpoint);
        var engine = TransformerModel.Load(checkpoint, adapter.ToDeltas(), merge);
        AssertMatches(reference, engine, "reference_lora.safetensors");
    }

    [Fact]
    public void TwoAdaptersAtOnceAddTheirScaledUpdates()
    {
        var reference = ModelReference.Load("llama-a");
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var peft = LoraAdapter.Load(Fixtures.Require("models", "llama-a", "lora"), checkpoint);
        var gguf = LoraAdapter.Load(Fixtures.Require("models", "llama-a", "lora-f32.gguf"), checkpoint);

        // Half from each file equals the adapter once, attached or merged.
        var halves = LoraAdapter.Combine([(peft, 0.5f), (gguf, 0.5f)]);
        Assert.Equal(16, halves["model.layers.0.self_attn.q_proj.weight"].Rank);
        AssertMatches(reference, TransformerModel.Load(checkpoint, halves), "reference_lora.safetensors");
        AssertMatches(reference, TransformerModel.Load(checkpoint, halves, mergeDeltas: true), "reference_lora.safetensors");

        // Plus and minus cancel: the base model's logits.
        var cancelled = LoraAdapter.Combine([(peft, 1f), (peft, -1f)]);
        AssertMatches(reference, TransformerModel.Load(checkpoint, cancelled), "reference_logits.safetensors");
    }

    static void AssertMatches(ModelReference reference, TransformerModel engine, string file)
    {
        foreach (var prompt in reference.Prompts)
        {
            var logits = ModelReference.AllLogits(engine.CreateSession(), prompt.Ids);
            double error = ModelReference.RelativeError(logits, reference.Tensor($"logits.{prompt.Index}", file));
            Assert.True(error < 1e-4, $"prompt {prompt.Index}: relative error {error:0.0e0} against {file}");
        }
    }
}
