using Agora.Inference;
using Agora.Formats.Checkpoint;
using Agora.Models;
using Agora.Tensors;

namespace Agora.Tests.Models;

/// <summary>
/// Q8_0 and Q4_0 weights, made here from the fixtures with llama.cpp's reference quantizers: the engine computes
/// exactly what the quantized weights encode, and a quantized model stays close to its float32 original.
/// </summary>
public class QuantizedModelTests
{
    [Theory]
    [InlineData(GgmlType.Q8_0)]
    [InlineData(GgmlType.Q4_0)]
    [InlineData(GgmlType.F16)]
    [InlineData(GgmlType.BF16)]
    public void QuantizedWeightsComputeWhatTheyEncode(GgmlType type)
    {
        var source = Fixtures.Require("models", "llama-a", "model-f32.gguf");
        using var quantized = GgufVariant.Quantized(source, type);
        using var decoded = GgufVariant.Quantized(source, type, decodeAgain: true);
        using var quantizedCheckpoint = Checkpoint.Open(quantized.Path);
        using var decodedCheckpoint = Checkpoint.Open(decoded.Path);
        Assert.Equal(type, quantizedCheckpoint.Get("model.layers.0.self_attn.q_proj.weight").Type);
        Assert.Equal(type, quantizedCheckpoint.Get("model.embed_tokens.weight").Type);
        var engine = TransformerModel.Load(quantizedCheckpoint);
        var twin = TransformerModel.Load(decodedCheckpoint);
        foreach (var prompt in ModelReference.Load("llama-a").Prompts)
        {
            double error = ModelReference.RelativeError(
                ModelReference.AllLogits(engine.CreateSession(), prompt.Ids), ModelReference.AllLogits(twin.CreateSession(), prompt.Ids));
            // Q8_0 and Q4_0 products quantize the activations to int8 blocks (as llama.cpp does), which llama-a's
            // amplifying random weights turn into ~1.6e-2 (kernel tests bound that rounding exactly); the other
            // types compute exactly what they encode.
            double bound = type is GgmlType.Q8_0 or GgmlType.Q4_0 ? 3e-2 : 1e-5;
            Assert.True(error < bound, $"prompt {prompt.Index}: {type} weights and their float32 decoding differ by {error:0.0e0}");
        }
    }

    /// <summary>
    /// llama-a's weights are random, scaled to make logits far from uniform, so quantization noise passes through
    /// amplified: measured relative errors are 1.8e-2 (Q8_0) and 2.8e-1 (Q4_0), the ratio ~16 of their step sizes
    /// (a 4-bit step is 16 times an 8-bit one). Bounds have ~1.5× headroom. Q8_0 keeps every argmax there.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 0.03)]
    [InlineData(GgmlType.Q4_0, 0.4)]
    public void QuantizedRandomLlamaErrorFollowsTheStepSize(GgmlType type, double maxRelativeError)
    {
        var (error, agreement) = Compare("llama-a", "model-f32.gguf", type, p => p.Ids, "logits");
        Assert.True(error < maxRelativeError, $"relative error {error}");
        if (type == GgmlType.Q8_0) Assert.True(agreement >= 0.95, $"top-1 agreement {agreement:P1}");
    }

    /// <summary>
    /// A trained model (kjv-llama, from its F16 file) along its greedy paths. It is tiny (hidden 256), so weight noise
    /// is not averaged away: measured relative errors are 1.5e-2 (Q8_0) and 2.4e-1 (Q4_0), again the step-size ratio,
    /// and top-1 agreement with the float32 reference is 208/215 (Q8_0) and 173/215 (Q4_0). Bounds leave a few
    /// positions of headroom; flips happen where the top two logits are close.
    /// </summary>
    [Theory]
    [InlineData(GgmlType.Q8_0, 0.93)]
    [InlineData(GgmlType.Q4_0, 0.70)]
    public void QuantizedTrainedModelKeepsMostArgmaxes(GgmlType type, double minTop1Agreement)
    {
        var (_, agreement) = Compare("kjv-llama", "model-f16.gguf", type, p => [.. p.Ids, .. p.GreedyIds], "greedy_logits");
        Assert.True(agreement >= minTop1Agreement, $"top-1 agreement {agreement:P1}");
    }

    static (double WorstError, double Agreement) Compare(string model, string file, GgmlType type, Func<ReferencePrompt, int[]> ids, string logitsName)
    {
        var reference = ModelReference.Load(model);
        using var variant = GgufVariant.Quantized(Fixtures.Require("models", model, file), type);
        using var checkpoint = Checkpoint.Open(variant.Path);
        var engine = TransformerModel.Load(checkpoint);
        int vocab = engine.VocabSize, positions = 0, agreeing = 0;
        double worst = 0;
        foreach (var prompt in reference.Prompts)
        {
            var tokens = ids(prompt);
            var logits = ModelReference.AllLogits(engine.CreateSession(), tokens);
            var expected = reference.Tensor($"{logitsName}.{prompt.Index}");
            worst = Math.Max(worst, ModelReference.RelativeError(logits, expected));
            for (int t = 0; t < tokens.Length; t++, positions++)
                if (ModelReference.ArgMax(logits.AsSpan(t * vocab, vocab)) == ModelReference.ArgMax(expected.AsSpan(t * vocab, vocab)))
                    agreeing++;
        }
        double agreement = agreeing / (double)positions;
        TestContext.Current.TestOutputHelper?.WriteLine($"{model} {type}: worst relative error {worst:0.000e0}, top-1 agreement {agreeing}/{positions} = {agreement:P1}");
        return (worst, agreement);
    }
}
