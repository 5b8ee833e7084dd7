using Agora.Inference;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Models;
using Agora.Tensors;

namespace Agora.Tests.Models;

/// <summary>Checkpoints the engine cannot run give one clear error naming the file and the problem.</summary>
public class BadModelTests
{
    static string LlamaGguf => Fixtures.Require("models", "llama-a", "model-f32.gguf");

    [Fact]
    public void MissingTensorIsNamed()
    {
        using var variant = new GgufVariant(LlamaGguf, (writer, gguf, t) =>
        {
            if (t.Name != "blk.1.ffn_up.weight") writer.AddTensor(gguf, t);
        });
        using var checkpoint = Checkpoint.Open(variant.Path);
        var error = Assert.Throws<AgoraFormatException>(() => TransformerModel.Load(checkpoint));
        Assert.Equal(variant.Path, error.Path);
        Assert.Contains("model.layers.1.mlp.up_proj.weight", error.Message);
    }

    [Theory]
    [InlineData("blk.0.ffn_gate.weight", "model.layers.0.mlp.gate_proj.weight")]
    [InlineData("output_norm.weight", "model.norm.weight")]
    [InlineData("token_embd.weight", "model.embed_tokens.weight")]
    public void MisShapedTensorIsNamedWithBothShapes(string ggufName, string hfName)
    {
        using var variant = new GgufVariant(LlamaGguf, (writer, gguf, t) =>
        {
            if (t.Name != ggufName)
            {
                writer.AddTensor(gguf, t);
                return;
            }
            // One row (or element) short of what the config implies.
            long[] shape = [.. t.Shape];
            shape[^1]--;
            writer.AddTensor(t.Name, GgmlType.F32, shape, new byte[shape.Aggregate(4L, (a, b) => a * b)]);
        });
        using var checkpoint = Checkpoint.Open(variant.Path);
        var error = Assert.Throws<AgoraFormatException>(() => TransformerModel.Load(checkpoint));
        Assert.Equal(variant.Path, error.Path);
        Assert.Contains(hfName, error.Message);
        Assert.Contains("the config implies", error.Message);
    }

    [Fact]
    public void UnsupportedArchitectureIsNamed()
    {
        using var variant = new GgufVariant(LlamaGguf, metadata: w => w.Set("general.architecture", GgufValue.String("gemma")));
        using var checkpoint = Checkpoint.Open(variant.Path);
        var error = Assert.Throws<AgoraFormatException>(() => TransformerModel.Load(checkpoint));
        Assert.Contains("gemma", error.Message);
        Assert.Contains(variant.Path, error.Message);
    }

    [Fact]
    public void UnsupportedWeightTypeIsNamed()
    {
        // IQ2_XXS has no decoder in Agora; zero blocks of the right size are enough to be refused by type.
        const GgmlType type = GgmlType.IQ2_XXS;
        using var variant = new GgufVariant(LlamaGguf, (writer, gguf, t) =>
        {
            if (t.Shape.Length == 2) writer.AddTensor(t.Name, type, t.Shape, new byte[GgmlTypeInfo.ByteSize(type, t.ElementCount)]);
            else writer.AddTensor(gguf, t);
        });
        using var checkpoint = Checkpoint.Open(variant.Path);
        var error = Assert.Throws<AgoraException>(() => TransformerModel.Load(checkpoint));
        Assert.Contains(type.ToString(), error.Message);
        Assert.Contains("model.embed_tokens.weight", error.Message);
    }

    [Fact]
    public void ImpossibleSessionsAreRefused()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "bloom-a", "hf"));
        var engine = TransformerModel.Load(checkpoint);
        Assert.Throws<AgoraException>(() => engine.CreateSession(0));
        Assert.Throws<AgoraException>(() => engine.CreateSession(int.MaxValue));
    }
}
