using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Formats.Safetensors;
using Agora.Training;

namespace Agora.Tests.Training;

/// <summary>
/// The hand-written backward passes against central differences of the loss, on micro models (hidden 16, 2 layers,
/// vocab 32) of each family: LLaMA (GQA, untied head), Qwen2 (q/k/v biases, tied head) and BLOOM (embedding
/// LayerNorm, fused QKV, ALiBi, GELU), for LoRA on every projection and for every weight (full fine-tuning), and over
/// a batch with more scored rows than one pass of the output head takes.
/// Per parameter tensor, the derivative along a random unit direction d is compared with g·d.
/// The forward is float32, so the steps (h = 2e-2 and h/2, Richardson-extrapolated to cancel the O(h²) truncation)
/// stay large against rounding (~1e-7·loss/h); errors are relative to max(|g·d|, 1e-2) (below that, rounding
/// dominates) and bounded by 1e-2, far below what a wrong or missing term in any backward gives.
/// </summary>
public sealed class FiniteDifferenceTests : IDisposable
{
    readonly string _folder = Path.Combine(Path.GetTempPath(), "agora-fd-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder)) Directory.Delete(_folder, recursive: true);
    }

    const int Hidden = 16, Heads = 4, KvHeads = 2, Ffn = 24, Vocab = 32, Layers = 2;

    string BuildModel(string family)
    {
        var random = new Random(7);
        var writer = new SafetensorsWriter([new("format", "pt")]);
        void Add(string name, float scale, float offset, params int[] shape)
        {
            var values = new float[shape.Aggregate(1, (a, b) => a * b)];
            for (int i = 0; i < values.Length; i++) values[i] = offset + scale * (float)(random.NextDouble() * 2 - 1);
            writer.Add(name, SafetensorsDType.F32, [.. shape.Select(d => (long)d)], MemoryMarshal.AsBytes(values.AsSpan()).ToArray());
        }
        JsonObject config;
        if (family == "bloom")
        {
            config = new JsonObject { ["model_type"] = "bloom", ["architectures"] = new JsonArray("BloomForCausalLM"), ["hidden_size"] = Hidden,
                ["n_head"] = Heads, ["n_layer"] = Layers, ["vocab_size"] = Vocab, ["layer_norm_epsilon"] = 1e-5, ["tie_word_embeddings"] = true };
            Add("transformer.word_embeddings.weight", 1f, 0, Vocab, Hidden);
            void Norm(string n) { Add(n + ".weight", 0.3f, 1, Hidden); Add(n + ".bias", 0.3f, 0, Hidden); }
            Norm("transformer.word_embeddings_layernorm");
            for (int l = 0; l < Layers; l++)
            {
                var p = $"transformer.h.{l}.";
                Norm(p + "input_layernorm");
                Norm(p + "post_attention_layernorm");
                foreach (var (name, o, i) in new[] { ("self_attention.query_key_value", 3 * Hidden, Hidden), ("self_attention.dense", Hidden, Hidden),
                    ("mlp.dense_h_to_4h", 4 * Hidden, Hidden), ("mlp.dense_4h_to_h", Hidden, 4 * Hidden) })
                {
                    Add(p + name + ".weight", 0.4f, 0, o, i);
                    Add(p + name + ".bias", 0.2f, 0, o);
                }
            }
            Norm("transformer.ln_f");
        }
        else
        {
            bool qwen = family == "qwen2";
            config = new JsonObject { ["model_type"] = family, ["architectures"] = new JsonArray(qwen ? "Qwen2ForCausalLM" : "LlamaForCausalLM"),
                ["hidden_size"] = Hidden, ["intermediate_size"] = Ffn, ["num_attention_heads"] = Heads, ["num_key_value_heads"] = KvHeads,
                ["num_hidden_layers"] = Layers, ["vocab_size"] = Vocab, ["rms_norm_eps"] = 1e-5, ["rope_theta"] = 100.0,
                ["max_position_embeddings"] = 64, ["tie_word_embeddings"] = qwen };
            Add("model.embed_tokens.weight", 1f, 0, Vocab, Hidden);
            int kv = KvHeads * Hidden / Heads;
            for (int l = 0; l < Layers; l++)
            {
                var p = $"model.layers.{l}.";
                Add(p + "input_layernorm.weight", 0.3f, 1, Hidden);
                Add(p + "post_attention_layernorm.weight", 0.3f, 1, Hidden);
                foreach (var (name, o, i) in new[] { ("self_attn.q_proj", Hidden, Hidden), ("self_attn.k_proj", kv, Hidden), ("self_attn.v_proj", kv, Hidden),
                    ("self_attn.o_proj", Hidden, Hidden), ("mlp.gate_proj", Ffn, Hidden), ("mlp.up_proj", Ffn, Hidden), ("mlp.down_proj", Hidden, Ffn) })
                {
                    Add(p + name + ".weight", 0.5f, 0, o, i);
                    if (qwen && name is "self_attn.q_proj" or "self_attn.k_proj" or "self_attn.v_proj") Add(p + name + ".bias", 0.3f, 0, o);
                }
            }
            Add("model.norm.weight", 0.3f, 1, Hidden);
            if (!qwen) Add("lm_head.weight", 0.5f, 0, Vocab, Hidden);
        }
        var folder = Path.Combine(_folder, family);
        Directory.CreateDirectory(folder);
        File.WriteAllText(Path.Combine(folder, "config.json"), config.ToJsonString());
        writer.Write(Path.Combine(folder, "model.safetensors"));
        return folder;
    }

    static LoraAdapter RandomAdapter(Checkpoint checkpoint)
    {
        var random = new Random(11);
        float[] Values(int n) => [.. Enumerable.Range(0, n).Select(_ => 0.3f * (float)(random.NextDouble() * 2 - 1))];
        const int rank = 2;
        var weights = checkpoint.Tensors
            .Where(t => t.Shape.Length == 2 && t.Name.Contains(".layers.") | t.Name.Contains(".h."))
            .Select(t => new LoraWeight(t.Name, Values(rank * (int)t.Shape[1]), Values((int)t.Shape[0] * rank), rank, (int)t.Shape[1], (int)t.Shape[0], 4))
            .ToList();
        return new LoraAdapter(weights, rank, 4);
    }

    /// <summary>The short batch, or (long) two rows of 90 random tokens: more scored rows than one pass of the output head takes.</summary>
    static TrainingBatch Batch(bool longBatch)
    {
        if (!longBatch)
            return TrainingBatch.FromRows(
                [[1, 5, 9, 30, 2, 7, 11], [3, 3, 17, 8, 25, 0, 4]],
                [[-100, -100, 9, 30, 2, 7, 11], [-100, 3, 17, -100, 25, 0, 4]]);
        var random = new Random(5);
        int[] tokens = [.. Enumerable.Range(0, 180).Select(_ => random.Next(Vocab))];
        int[] labels = [.. tokens.Select((t, i) => i % 7 == 3 ? TrainingBatch.Ignored : t)];
        Assert.True(new TrainingBatch(tokens, labels, 2, 90).ScoredCount > TrainableTransformer.HeadRows);
        return new TrainingBatch(tokens, labels, 2, 90);
    }

    public static TheoryData<string, bool, bool> Cases() => new()
    {
        { "llama", false, false }, { "llama", true, false }, { "qwen2", false, false }, { "qwen2", true, false }, { "bloom", false, false },
        { "bloom", true, false }, { "llama", true, true }, { "bloom", false, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientsMatchCentralDifferences(string family, bool allWeights, bool longBatch)
    {
        using var checkpoint = Checkpoint.Open(BuildModel(family));
        var training = allWeights ? TrainableTransformer.ForAllWeights(checkpoint) : TrainableTransformer.ForLora(checkpoint, RandomAdapter(checkpoint));
        var batch = Batch(longBatch);
        training.ZeroGradients();
        training.AccumulateGradients(batch, batch.ScoredCount);
        int expectedCount = (family, allWeights) switch
        {
            ("bloom", true) => 1 + 2 + Layers * (4 + 8) + 2,
            ("llama", true) => 1 + Layers * (2 + 7) + 1 + 1,
            ("qwen2", true) => 1 + Layers * (2 + 7 + 3) + 1,
            ("bloom", false) => Layers * 4 * 2,
            _ => Layers * 7 * 2,
        };
        Assert.Equal(expectedCount, training.Parameters.Count);

        var random = new Random(3);
        const double h = 2e-2;
        var failures = new List<string>();
        double worst = 0;
        foreach (var p in training.Parameters)
        {
            var direction = new double[p.Value.Length];
            double norm = 0;
            for (int i = 0; i < direction.Length; i++) norm += (direction[i] = random.NextDouble() * 2 - 1) * direction[i];
            norm = Math.Sqrt(norm);
            double analytic = 0;
            for (int i = 0; i < direction.Length; i++) analytic += (direction[i] /= norm) * p.Gradient[i];
            var original = (float[])p.Value.Clone();
            double Central(double step)
            {
                for (int i = 0; i < direction.Length; i++) p.Value[i] = (float)(original[i] + step * direction[i]);
                double plus = training.Loss(batch);
                for (int i = 0; i < direction.Length; i++) p.Value[i] = (float)(original[i] - step * direction[i]);
                double minus = training.Loss(batch);
                original.CopyTo(p.Value, 0);
                return (plus - minus) / (2 * step);
            }
            // Richardson extrapolation cancels the h² term, so h can stay large enough for float32 rounding.
            double numeric = (4 * Central(h / 2) - Central(h)) / 3;
            double error = Math.Abs(numeric - analytic) / Math.Max(Math.Abs(analytic), 1e-2);
            worst = Math.Max(worst, error);
            if (!(error < 1e-2)) failures.Add($"{p.Name}: analytic {analytic:G6}, numeric {numeric:G6}");
        }
        Assert.True(failures.Count == 0, string.Join("; ", failures));
        TestContext.Current.TestOutputHelper?.WriteLine($"{family} {(allWeights ? "all weights" : "LoRA")}{(longBatch ? ", long batch" : "")}: worst relative error {worst:0.00e0}");
    }
}
