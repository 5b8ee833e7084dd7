using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Tests.Formats;

public class CheckpointTests
{
    public static TheoryData<string, string> ModelsAndGgufs() => new()
    {
        { "llama-a", "model-f32.gguf" }, { "llama-a", "model-f16.gguf" },
        { "qwen2-a", "model-f32.gguf" }, { "qwen2-a", "model-f16.gguf" },
        { "bloom-a", "model-f32.gguf" }, { "bloom-a", "model-f16.gguf" },
        { "kjv-llama", "model-f16.gguf" },
    };

    /// <summary>
    /// Every Hugging Face tensor equals the GGUF tensor of the same name once llama.cpp's row orders are undone:
    /// exactly for f32 files; for f16 files the GGUF value is the f32 value rounded to half (1-D tensors stay f32).
    /// </summary>
    [Theory]
    [MemberData(nameof(ModelsAndGgufs))]
    public void HfAndGgufHoldTheSameTensors(string model, string ggufName)
    {
        using var hf = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        using var gguf = Checkpoint.Open(Fixtures.Require("models", model, ggufName));
        Assert.Equal(CheckpointFormat.HuggingFace, hf.Format);
        Assert.Equal(CheckpointFormat.Gguf, gguf.Format);
        int reordered = 0;
        foreach (var h in hf.Tensors)
        {
            var g = gguf.Get(h.Name);
            Assert.Equal(h.Shape, g.Shape);
            Assert.Equal(GgmlType.F32, h.Type);
            var expected = ToFloats(h);
            if (g.Type == GgmlType.F32)
            {
                Assert.True(expected.AsSpan().SequenceEqual(ToFloats(g)), $"{h.Name} differs");
            }
            else
            {
                Assert.Equal(GgmlType.F16, g.Type);
                var halves = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, Half>(g.Data);
                for (int i = 0; i < expected.Length; i++)
                {
                    if ((Half)expected[i] != halves[i])
                        Assert.Fail($"{h.Name}[{i}]: f32 {expected[i]} rounds to {(Half)expected[i]}, GGUF has {halves[i]}");
                }
            }
            if (g.IsReordered) reordered++;
        }
        int expectedReordered = model switch
        {
            "llama-a" => 2 * 2,      // q_proj and k_proj weights per layer
            "kjv-llama" => 2 * 6,
            "bloom-a" => 2 * 2,      // fused query_key_value weight and bias per layer
            _ => 0,                  // Qwen2 is stored in Hugging Face order
        };
        Assert.Equal(expectedReordered, reordered);
    }

    [Theory]
    [MemberData(nameof(ModelsAndGgufs))]
    public void HfAndGgufGiveTheSameModelConfig(string model, string ggufName)
    {
        using var hf = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        using var gguf = Checkpoint.Open(Fixtures.Require("models", model, ggufName));
        var expected = hf.Config;
        // llama.cpp's BLOOM converter writes a copy of the tied embedding as output.weight, so the GGUF is untied.
        if (model == "bloom-a")
        {
            Assert.True(expected.TieWordEmbeddings);
            Assert.False(gguf.Config.TieWordEmbeddings);
            Assert.True(gguf.Get("lm_head.weight").Data.SequenceEqual(gguf.Get("transformer.word_embeddings.weight").Data));
            expected = expected with { TieWordEmbeddings = false };
        }
        Assert.Equal(expected, gguf.Config);
    }

    [Fact]
    public void LlamaConfigValues()
    {
        using var c = Checkpoint.Open(Fixtures.Require("models", "llama-a", "model-f16.gguf"));
        var m = c.Config;
        Assert.Equal(ModelArchitecture.Llama, m.Architecture);
        Assert.Equal((256, 768, 2, 8, 4, 32, 512, 512, 32), (m.HiddenSize, m.IntermediateSize, m.LayerCount, m.HeadCount, m.KvHeadCount, m.HeadDim, m.VocabSize, m.ContextLength, m.RopeDimensions));
        Assert.Equal(1e-5f, m.NormEpsilon);
        Assert.Equal(10000f, m.RopeTheta);
        Assert.False(m.TieWordEmbeddings);
        Assert.True(m.UsesRmsNorm && m.UsesGatedMlp && !m.UsesAlibi && !m.EmbeddingNorm);
        Assert.Equal([256L, 256L], c.Get("model.layers.1.self_attn.o_proj.weight").Shape);
        Assert.Equal([768L, 256L], c.Get("model.layers.0.mlp.up_proj.weight").Shape);
        Assert.Equal("blk.0.ffn_up.weight", c.Get("model.layers.0.mlp.up_proj.weight").SourceName);
    }

    [Fact]
    public void Qwen2AndBloomConfigValues()
    {
        using (var q = Checkpoint.Open(Fixtures.Require("models", "qwen2-a", "hf")))
        {
            var m = q.Config;
            Assert.Equal(ModelArchitecture.Qwen2, m.Architecture);
            Assert.True(m.TieWordEmbeddings && m.QkvBias && !m.OutputBias && !m.MlpBias);
            Assert.Equal(1e6f, m.RopeTheta);
            Assert.NotNull(q.GenerationConfig);
            Assert.Null(q.Find("lm_head.weight"));
        }
        using (var b = Checkpoint.Open(Fixtures.Require("models", "bloom-a", "model-f32.gguf")))
        {
            var m = b.Config;
            Assert.Equal(ModelArchitecture.Bloom, m.Architecture);
            Assert.True(m.UsesAlibi && m.EmbeddingNorm && m.QkvBias && m.OutputBias && m.MlpBias);
            Assert.Equal(128, m.ContextLength);
            Assert.Equal([384L, 128L], b.Get("transformer.h.0.self_attention.query_key_value.weight").Shape);
            Assert.NotNull(b.Find("transformer.word_embeddings_layernorm.bias"));
        }
    }

    [Fact]
    public void RopeRowOrderIsTheConvertersPermutationInverted()
    {
        // Forward as llama.cpp writes it: rows (head, half, i) → (head, i, half).
        int heads = 4, headDim = 8, rows = heads * headDim;
        var order = GgufRowOrder.Rope("f", "t", rows, heads);
        Assert.Equal(rows, order.Distinct().Count());
        for (int h = 0; h < heads; h++)
            for (int j = 0; j < 2; j++)
                for (int i = 0; i < headDim / 2; i++)
                    Assert.Equal(h * headDim + i * 2 + j, order[h * headDim + j * headDim / 2 + i]);
        Assert.Throws<AgoraFormatException>(() => GgufRowOrder.Rope("f", "t", 30, 4));
    }

    [Fact]
    public void OpeningSniffsAndRefusesClearly()
    {
        var dir = Directory.CreateTempSubdirectory("agora-ckpt-").FullName;
        try
        {
            var junk = Path.Combine(dir, "junk.bin");
            File.WriteAllText(junk, "hello");
            Assert.Contains("neither a GGUF file", Assert.Throws<AgoraFormatException>(() => Checkpoint.Open(junk)).Message);
            Assert.Contains("no config.json", Assert.Throws<AgoraException>(() => Checkpoint.Open(dir)).Message);
            Assert.Throws<AgoraException>(() => Checkpoint.Open(Path.Combine(dir, "missing")));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void UnknownGgufArchitectureOpensButRefusesAConfig()
    {
        var path = Path.Combine(Directory.CreateTempSubdirectory("agora-ckpt-").FullName, "falcon.gguf");
        try
        {
            var writer = new GgufWriter();
            writer.Add("general.architecture", GgufValue.String("falcon"));
            writer.AddTensor("blk.0.attn_qkv.weight", GgmlType.F32, [4, 2], new byte[32]);
            writer.Write(path);
            using var c = Checkpoint.Open(path);
            Assert.NotNull(c.Find("blk.0.attn_qkv.weight"));
            var e = Assert.Throws<AgoraFormatException>(() => c.Config);
            Assert.Contains("'falcon'", e.Message);
        }
        finally
        {
            Directory.Delete(Path.GetDirectoryName(path)!, recursive: true);
        }
    }

    [Fact]
    public void QuantizedRowsAreReorderedWhole()
    {
        var dir = Directory.CreateTempSubdirectory("agora-ckpt-").FullName;
        try
        {
            // 2 heads of 4 dims: 8 rows of one Q8_0 block (34 bytes) each, every byte tagged with its GGUF row.
            const int rows = 8, rowBytes = 34;
            var data = new byte[rows * rowBytes];
            for (int r = 0; r < rows; r++) data.AsSpan(r * rowBytes, rowBytes).Fill((byte)r);
            var writer = new GgufWriter();
            writer.Add("general.architecture", GgufValue.String("llama"));
            foreach (var (key, value) in new (string, uint)[] { ("context_length", 16), ("embedding_length", 8), ("block_count", 1),
                ("feed_forward_length", 16), ("attention.head_count", 2), ("attention.head_count_kv", 2), ("vocab_size", 4) })
                writer.Add($"llama.{key}", GgufValue.UInt32(value));
            writer.Add("llama.attention.layer_norm_rms_epsilon", GgufValue.Float32(1e-5f));
            writer.AddTensor("blk.0.attn_q.weight", GgmlType.Q8_0, [32, rows], data);
            var path = Path.Combine(dir, "q8.gguf");
            writer.Write(path);

            using var c = Checkpoint.Open(path);
            var q = c.Get("model.layers.0.self_attn.q_proj.weight");
            Assert.True(q.IsReordered);
            Assert.Equal([8L, 32L], q.Shape);
            var order = GgufRowOrder.Rope(path, q.SourceName, rows, 2);
            Assert.Equal([0, 2, 1, 3, 4, 6, 5, 7], order);
            for (int r = 0; r < rows; r++)
                Assert.True(q.Data.Slice(r * rowBytes, rowBytes).IndexOfAnyExcept((byte)order[r]) < 0, $"row {r}");
            // The stored layout stays readable in place, with the map a model needs to follow it.
            Assert.Equal(StoredRowOrder.RopePairs, q.StoredOrder);
            Assert.Equal(order, q.StoredRows);
            for (int r = 0; r < rows; r++)
                Assert.True(q.StoredData.Slice(r * rowBytes, rowBytes).IndexOfAnyExcept((byte)r) < 0, $"stored row {r}");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void ShardedBloomFolderWithBareNamesReadsUnderCanonicalNames()
    {
        var source = Fixtures.Require("models", "bloom-a", "hf");
        var dir = Directory.CreateTempSubdirectory("agora-ckpt-").FullName;
        try
        {
            File.Copy(Path.Combine(source, "config.json"), Path.Combine(dir, "config.json"));
            using var whole = Agora.Formats.Safetensors.SafetensorsFile.Open(Path.Combine(source, "model.safetensors"));
            var shards = new[] { "a.safetensors", "b.safetensors" };
            var writers = shards.Select(_ => new Agora.Formats.Safetensors.SafetensorsWriter()).ToArray();
            var map = new Dictionary<string, string>();
            for (int i = 0; i < whole.Tensors.Count; i++)
            {
                // As BloomModel saves them: without the "transformer." prefix.
                var bare = whole.Tensors[i].Name["transformer.".Length..];
                writers[i % 2].Add(whole, whole.Tensors[i], bare);
                map[bare] = shards[i % 2];
            }
            for (int i = 0; i < 2; i++) writers[i].Write(Path.Combine(dir, shards[i]));
            Agora.Formats.Safetensors.SafetensorsIndex.Write(Path.Combine(dir, Agora.Formats.Safetensors.SafetensorsIndex.FileName), map, 0);

            using var sharded = Checkpoint.Open(dir);
            using var original = Checkpoint.Open(source);
            Assert.Equal(original.Tensors.Select(t => t.Name).Order(), sharded.Tensors.Select(t => t.Name).Order());
            foreach (var t in original.Tensors)
                Assert.True(t.Data.SequenceEqual(sharded.Get(t.Name).Data), t.Name);
            Assert.Equal(original.Config, sharded.Config);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void HfTensorOfAnUncomputableDTypeIsRefusedByName()
    {
        var dir = Directory.CreateTempSubdirectory("agora-ckpt-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "config.json"), """{"model_type": "llama"}""");
            var writer = new Agora.Formats.Safetensors.SafetensorsWriter();
            writer.Add("model.mask", Agora.Formats.Safetensors.SafetensorsDType.U8, [4], new byte[4]);
            writer.Write(Path.Combine(dir, "model.safetensors"));
            var e = Assert.Throws<AgoraFormatException>(() => Checkpoint.Open(dir));
            Assert.Contains("'model.mask' has dtype U8", e.Message);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    static float[] ToFloats(CheckpointTensor t) => System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(t.Data).ToArray();
}
