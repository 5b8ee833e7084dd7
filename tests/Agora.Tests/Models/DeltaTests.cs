using Agora.Inference;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Models;
using Agora.Tensors;

namespace Agora.Tests.Models;

/// <summary>Low-rank deltas on linear layers: applied on the fly or merged, the same logits; bad targets refused.</summary>
public class DeltaTests
{
    static LowRankDelta RandomDelta(Random random, int rank, int inFeatures, int outFeatures, float scale)
    {
        float Sample() => (float)(random.NextDouble() * 2 - 1) * 0.2f;
        return new LowRankDelta([.. Enumerable.Range(0, rank * inFeatures).Select(_ => Sample())],
            [.. Enumerable.Range(0, outFeatures * rank).Select(_ => Sample())], rank, inFeatures, outFeatures, scale);
    }

    public static TheoryData<string, string, string[]> Targets() => new()
    {
        { "llama-a", "hf", ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.mlp.down_proj.weight", "lm_head.weight"] },
        { "qwen2-a", "model-f16.gguf", ["model.layers.0.self_attn.k_proj.weight", "model.layers.1.mlp.gate_proj.weight"] },
        { "bloom-a", "model-f32.gguf", ["transformer.h.0.self_attention.query_key_value.weight", "transformer.h.1.mlp.dense_4h_to_h.weight"] },
    };

    [Theory]
    [MemberData(nameof(Targets))]
    public void MergedDeltasGiveTheSameLogitsAsAppliedOnes(string model, string file, string[] targets)
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, file));
        var random = new Random(1234);
        var deltas = targets.ToDictionary(t => t, t =>
        {
            var shape = checkpoint.Get(t).Shape;
            return RandomDelta(random, 4, (int)shape[1], (int)shape[0], 0.75f);
        });
        var plain = TransformerModel.Load(checkpoint);
        var applied = TransformerModel.Load(checkpoint, deltas);
        var merged = TransformerModel.Load(checkpoint, deltas, mergeDeltas: true);

        foreach (var target in targets)
        {
            Assert.Single(applied.LinearLayers.Single(l => l.Name == target).Deltas);
            var mergedLayer = merged.LinearLayers.Single(l => l.Name == target);
            Assert.Empty(mergedLayer.Deltas);
            Assert.Equal(GgmlType.F32, mergedLayer.WeightType);
        }
        Assert.Equal(targets.Length, applied.LinearLayers.Count(l => l.Deltas.Count > 0));
        Assert.All(merged.LinearLayers.Where(l => !targets.Contains(l.Name)), l => Assert.Equal(checkpoint.Get(l.Name).Type, l.WeightType));

        foreach (var prompt in ModelReference.Load(model).Prompts)
        {
            var withDeltas = ModelReference.AllLogits(applied.CreateSession(), prompt.Ids);
            var withMerged = ModelReference.AllLogits(merged.CreateSession(), prompt.Ids);
            var without = ModelReference.AllLogits(plain.CreateSession(), prompt.Ids);
            double error = ModelReference.RelativeError(withMerged, withDeltas);
            TestContext.Current.TestOutputHelper?.WriteLine($"{model} prompt {prompt.Index}: merged vs applied {error:0.0e0}, " +
                $"deltas move logits by {ModelReference.RelativeError(withDeltas, without):0.0e0}");
            Assert.True(error < 1e-5, $"merged and applied differ by {error:0.0e0}");
            Assert.True(ModelReference.RelativeError(withDeltas, without) > 1e-2, "the deltas should change the logits");
        }
    }

    [Fact]
    public void DeltasForWeightsTheModelDoesNotHaveOrOfAnotherShapeAreRefused()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var random = new Random(5);
        void Refused(string target, LowRankDelta delta, string expected)
        {
            var error = Assert.Throws<AgoraException>(() => TransformerModel.Load(checkpoint, new Dictionary<string, LowRankDelta> { [target] = delta }));
            Assert.Contains(target, error.Message);
            Assert.Contains(expected, error.Message);
        }
        Refused("model.layers.7.self_attn.q_proj.weight", RandomDelta(random, 2, 256, 256, 1), "not a weight");
        Refused("model.layers.0.self_attn.q_proj", RandomDelta(random, 2, 256, 256, 1), "not a weight");
        Refused("model.embed_tokens.weight", RandomDelta(random, 2, 256, 512, 1), "not a linear layer");
        Refused("model.layers.0.input_layernorm.weight", RandomDelta(random, 2, 256, 1, 1), "not a linear layer");
        // k_proj maps 256 → 128 (4 KV heads of 32).
        Refused("model.layers.0.self_attn.k_proj.weight", RandomDelta(random, 2, 256, 256, 1), "256 → 128");
        Refused("model.layers.0.self_attn.k_proj.weight", RandomDelta(random, 2, 128, 256, 1), "256 → 128");
    }
}
