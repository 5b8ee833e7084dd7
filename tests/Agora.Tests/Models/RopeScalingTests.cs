using Agora.Inference;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Models;
using Agora.Tensors;

namespace Agora.Tests.Models;

/// <summary>
/// Rope scaling reaches the forward pass the same way from either format: a Hugging Face config's rope_scaling and
/// its GGUF spelling (scaling keys; llama3 as llama.cpp's converter writes it, a rope_freqs.weight tensor).
/// </summary>
public class RopeScalingTests
{
    // A short original context, so the scaling moves most of llama-a's frequencies within the prompts' positions.
    static readonly RopeScaling Llama3 = new(RopeScalingKind.Llama3, 8, 1, 4, 16);

    [Fact]
    public void Llama3FromConfigEqualsFrequencyFactorsTensor()
    {
        using var hf = HfVariant("""{"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 16}""");
        var factors = Llama3.Llama3FrequencyFactors(32, 10000);
        using var gguf = new GgufVariant(Fixtures.Require("models", "llama-a", "model-f32.gguf"), (writer, file, t) =>
        {
            writer.AddTensor(file, t);
            if (t.Name == "output_norm.weight")
                writer.AddTensor("rope_freqs.weight", GgmlType.F32, [factors.Length], MemoryMarshal.AsBytes(factors.AsSpan()).ToArray());
        });
        using var fromConfig = Checkpoint.Open(hf.Folder);
        using var fromTensor = Checkpoint.Open(gguf.Path);
        Assert.Equal(RopeScalingKind.Llama3, fromConfig.Config.RopeScaling!.Kind);
        Assert.Equal(RopeScalingKind.FrequencyFactors, fromTensor.Config.RopeScaling!.Kind);
        AssertSameLogitsButScaled(TransformerModel.Load(fromConfig), TransformerModel.Load(fromTensor));
    }

    [Fact]
    public void LinearFromConfigEqualsGgufScalingKeys()
    {
        using var hf = HfVariant("""{"rope_type": "linear", "factor": 4.0}""");
        using var gguf = new GgufVariant(Fixtures.Require("models", "llama-a", "model-f32.gguf"), metadata: w =>
        {
            w.Set("llama.rope.scaling.type", GgufValue.String("linear"));
            w.Set("llama.rope.scaling.factor", GgufValue.Float32(4));
        });
        using var fromConfig = Checkpoint.Open(hf.Folder);
        using var fromKeys = Checkpoint.Open(gguf.Path);
        Assert.Equal(new RopeScaling(RopeScalingKind.Linear, 4), fromKeys.Config.RopeScaling);
        AssertSameLogitsButScaled(TransformerModel.Load(fromConfig), TransformerModel.Load(fromKeys));
    }

    static void AssertSameLogitsButScaled(TransformerModel a, TransformerModel b)
    {
        using var plainCheckpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var plain = TransformerModel.Load(plainCheckpoint);
        foreach (var prompt in ModelReference.Load("llama-a").Prompts)
        {
            var fromA = ModelReference.AllLogits(a.CreateSession(), prompt.Ids);
            Assert.True(ModelReference.RelativeError(ModelReference.AllLogits(b.CreateSession(), prompt.Ids), fromA) < 1e-5);
            Assert.True(ModelReference.RelativeError(ModelReference.AllLogits(plain.CreateSession(), prompt.Ids), fromA) > 1e-3,
                "the scaling should change the logits");
        }
    }

    static HfVariant HfVariant(string ropeScaling) => new("llama-a", config => config["rope_scaling"] = JsonNode.Parse(ropeScaling));
}
