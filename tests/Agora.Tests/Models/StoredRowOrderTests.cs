using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Inference;
using Agora.Models;
using Agora.Tensors.Kernels;

namespace Agora.Tests.Models;

/// <summary>
/// Models read llama.cpp's re-ordered tensors (LLaMA Q/K pairs, BLOOM grouped QKV) in place, with no copy, and
/// compute what the reference computed, with and without LoRA adapters (attached or merged).
/// </summary>
public sealed class StoredRowOrderTests
{
    public static TheoryData<string, string, string?, bool> Cases()
    {
        var cases = new TheoryData<string, string, string?, bool>();
        foreach (var model in new[] { "llama-a", "bloom-a" })
            foreach (var file in new[] { "model-f32.gguf", "model-f16.gguf" })
            {
                cases.Add(model, file, null, false);
                foreach (var adapter in new[] { "lora", "lora-f32.gguf" })
                    foreach (var merge in new[] { false, true })
                        cases.Add(model, file, adapter, merge);
            }
        return cases;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void ReorderedWeightsServeInPlaceAndMatchTheReference(string model, string file, string? adapterFile, bool merge)
    {
        var reference = ModelReference.Load(model);
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, file));
        var deltas = adapterFile == null ? null : LoraAdapter.Load(Fixtures.Require("models", model, adapterFile), checkpoint).ToDeltas();
        var engine = TransformerModel.Load(checkpoint, deltas, merge, WeightRowOrder.AsStored);

        var stored = checkpoint.Tensors.Where(t => t.IsReordered).ToList();
        Assert.NotEmpty(stored);
        Assert.All(stored, t => Assert.False(t.HasCopy, $"{t.Name} was copied into Hugging Face order"));
        if (engine is LlamaModel llama) Assert.Equal(RopeLayout.Interleaved, llama.RopeLayout);
        foreach (var layer in engine.LinearLayers)
            if (checkpoint.Find(layer.Name) is { IsReordered: true } tensor && !(merge && adapterFile != null))
                Assert.True(layer.WeightPointer == tensor.StoredPointer, $"{layer.Name} does not read the file's bytes");

        double tolerance = file == "model-f32.gguf" ? 1e-4 : 1e-2;
        var expected = adapterFile == null ? "reference_logits.safetensors" : "reference_lora.safetensors";
        foreach (var prompt in reference.Prompts)
        {
            var logits = ModelReference.AllLogits(engine.CreateSession(), prompt.Ids);
            double error = ModelReference.RelativeError(logits, reference.Tensor($"logits.{prompt.Index}", expected));
            Assert.True(error < tolerance, $"prompt {prompt.Index}: relative error {error:0.0e0} against {expected}");
        }
    }

    [Fact]
    public void StoredAndHuggingFaceOrdersGiveTheSameLogits()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "model-f32.gguf"));
        var ids = ModelReference.Load("llama-a").Prompts[0].Ids;
        var copied = ModelReference.AllLogits(TransformerModel.Load(checkpoint).CreateSession(), ids);
        Assert.True(checkpoint.Get("model.layers.0.self_attn.q_proj.weight").HasCopy);
        var inPlace = ModelReference.AllLogits(TransformerModel.Load(checkpoint, rowOrder: WeightRowOrder.AsStored).CreateSession(), ids);
        Assert.True(ModelReference.RelativeError(inPlace, copied) < 1e-6);
    }

    [Fact]
    public void PartialRotaryFallsBackToCopies()
    {
        // A partial rotation's pairs are not the converter's pairs, so those Q/K rows are copied and rotated by halves.
        using var variant = new GgufVariant(Fixtures.Require("models", "llama-a", "model-f32.gguf"),
            metadata: w => w.Set("llama.rope.dimension_count", Agora.Formats.Gguf.GgufValue.UInt32(16)));
        using var checkpoint = Checkpoint.Open(variant.Path);
        Assert.Equal(2 * checkpoint.Config.RopeDimensions, checkpoint.Config.HeadDim);
        var engine = (LlamaModel)TransformerModel.Load(checkpoint, rowOrder: WeightRowOrder.AsStored);
        Assert.Equal(RopeLayout.NeoX, engine.RopeLayout);
        Assert.True(checkpoint.Get("model.layers.0.self_attn.k_proj.weight").HasCopy);
        var ids = ModelReference.Load("llama-a").Prompts[0].Ids;
        Assert.Equal(ModelReference.AllLogits(TransformerModel.Load(checkpoint).CreateSession(), ids),
            ModelReference.AllLogits(engine.CreateSession(), ids));
    }

    [Fact]
    public void LanguageModelReadsStoredOrder()
    {
        using var lm = LanguageModel.Load(Fixtures.Require("models", "llama-a", "model-f16.gguf"));
        Assert.Equal(RopeLayout.Interleaved, ((LlamaModel)lm.Model).RopeLayout);
        Assert.DoesNotContain(lm.Checkpoint.Tensors, t => t.HasCopy);
    }
}
