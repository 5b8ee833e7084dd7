using System.Text.Json.Nodes;
using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Formats.Safetensors;
using Agora.Tensors;

namespace Agora.Tests.Adapters;

/// <summary>Scales, patterns, combination, merging, and every refusal, on small adapters built here.</summary>
public sealed class LoraAdapterTests
{
    const string Q = "model.layers.0.self_attn.q_proj.weight";
    const string V = "model.layers.0.self_attn.v_proj.weight";

    static float[] Random(int count, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, count).Select(_ => (float)(random.NextDouble() * 2 - 1))];
    }

    /// <summary>q_proj at rank 4 (alpha 8) and v_proj at rank 2 with its own alpha.</summary>
    static LoraAdapter Small(bool rsLora = false, float vAlpha = 8, int vRank = 2) => new(
    [
        new LoraWeight(Q, Random(4 * 16, 1), Random(16 * 4, 2), 4, 16, 16, 8),
        new LoraWeight(V, Random(vRank * 16, 3), Random(8 * vRank, 4), vRank, 16, 8, vAlpha),
    ], rank: 4, alpha: 8, rsLora);

    /// <summary>A PEFT folder holding <see cref="Small"/>'s tensors with the config edited by <paramref name="edit"/>.</summary>
    static void WriteFolder(string folder, Action<JsonObject> edit, LoraAdapter? adapter = null)
    {
        PeftAdapterFormat.Write(adapter ?? Small(), folder);
        var path = Path.Combine(folder, PeftAdapterFormat.ConfigFile);
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
    }

    [Fact]
    public void ScaleIsAlphaOverRankOrOverItsRootWithRsLora()
    {
        var plain = Small();
        Assert.Equal(2f, plain.Scale(plain.Find(Q)!));
        Assert.Equal(4f, plain.Scale(plain.Find(V)!));

        using var temp = new TempFolder();
        WriteFolder(temp.Path, c => c["use_rslora"] = true);
        var rs = LoraAdapter.Load(temp.Path);
        Assert.True(rs.UseRsLora);
        Assert.Equal(4f, rs.Scale(rs.Find(Q)!)); // 8 / √4
        Assert.Equal(8f / MathF.Sqrt(2), rs.Scale(rs.Find(V)!));
        Assert.Equal(4f * 0.5f, rs.ToDeltas(0.5f)[Q].Scale);
    }

    [Fact]
    public void RankAndAlphaPatternsFollowPeftsMatching()
    {
        using var temp = new TempFolder();
        WriteFolder(temp.Path, c =>
        {
            c["r"] = 4;
            c["lora_alpha"] = 8;
            // PEFT matches each key as (.*\.)?(key)$ against the module name, first key first.
            c["rank_pattern"] = new JsonObject { ["v_proj"] = 2, ["q_proj"] = 4 };
            c["alpha_pattern"] = new JsonObject { ["layers.0.self_attn.v_proj"] = 32, ["proj"] = 1 };
        }, Small(vAlpha: 32));
        var adapter = LoraAdapter.Load(temp.Path);
        Assert.Equal(2, adapter.Find(V)!.Rank);
        Assert.Equal(32f, adapter.Find(V)!.Alpha);
        Assert.Equal(16f, adapter.Scale(adapter.Find(V)!));
        Assert.Equal(8f, adapter.Find(Q)!.Alpha); // "proj" does not match "…q_proj" at a dot boundary
        Assert.Equal(2f, adapter.Scale(adapter.Find(Q)!));

        // Written back, per-weight ranks and alphas become full-name patterns and read back the same.
        using var again = new TempFolder();
        PeftAdapterFormat.Write(adapter, again.Path);
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(again.Path, PeftAdapterFormat.ConfigFile)))!;
        Assert.Equal(2, (int)config["rank_pattern"]!["model.layers.0.self_attn.v_proj"]!);
        Assert.Equal(32, (int)config["alpha_pattern"]!["model.layers.0.self_attn.v_proj"]!);
        LoraFixtureTests.AssertSameAdapter(adapter, LoraAdapter.Load(again.Path));
    }

    [Fact]
    public void PeftRoundTripKeepsEveryValueAndSetting()
    {
        var adapter = new LoraAdapter(Small().Weights, 4, 8, useRsLora: true)
        {
            BaseModel = "HuggingFaceTB/SmolLM2-135M",
            TargetModules = ["q_proj", "v_proj"],
            LayersToTransform = [0],
            Dropout = 0.05f,
        };
        using var temp = new TempFolder();
        PeftAdapterFormat.Write(adapter, temp.Path);
        var back = LoraAdapter.Load(Path.Combine(temp.Path, PeftAdapterFormat.ConfigFile));
        LoraFixtureTests.AssertSameAdapter(adapter, back);
        Assert.Equal(adapter.BaseModel, back.BaseModel);
        Assert.Equal(adapter.TargetModules, back.TargetModules);
        Assert.Equal(adapter.LayersToTransform, back.LayersToTransform);
        Assert.Equal(0.05f, back.Dropout);
        Assert.Equal("CAUSAL_LM", back.TaskType);
        Assert.Equal(temp.Path, back.SourcePath);

        // Half precision on disk: values round to F16 and read back as written.
        using var half = new TempFolder();
        PeftAdapterFormat.Write(adapter, half.Path, SafetensorsDType.F16);
        using (var file = SafetensorsFile.Open(Path.Combine(half.Path, PeftAdapterFormat.WeightsFile)))
            Assert.All(file.Tensors, t => Assert.Equal(SafetensorsDType.F16, t.DType));
        var fromHalf = LoraAdapter.Load(half.Path);
        LoraFixtureTests.AssertClose(adapter.Find(Q)!.A, fromHalf.Find(Q)!.A, 1e-3f, "F16 A");
    }

    [Fact]
    public void GgufWriterFoldsScalesLlamaCppCannotExpress()
    {
        // llama.cpp knows only alpha / r: rsLoRA and per-weight alphas are folded into B, so the update is the same.
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var fixture = LoraAdapter.Load(Fixtures.Require("models", "llama-a", "lora"));
        var odd = new LoraAdapter(fixture.Weights.Select((w, i) => new LoraWeight(w.Name, w.A, w.B, w.Rank, w.In, w.Out, 16 + i)),
            fixture.Rank, fixture.Alpha, useRsLora: true);
        using var temp = new TempFolder();
        var path = Path.Combine(temp.Path, "odd.gguf");
        GgufLoraFormat.Write(odd, path, checkpoint.Config);
        var back = LoraAdapter.Load(path, checkpoint);
        foreach (var w in odd.Weights)
        {
            var r = back.Find(w.Name)!;
            Assert.Equal(w.A, r.A);
            LoraFixtureTests.AssertClose([.. w.B.Select(b => b * odd.Scale(w))], [.. r.B.Select(b => b * back.Scale(r))], 1e-6f, w.Name);
        }
    }

    [Fact]
    public void CombinedAdaptersStackIntoOneDeltaPerWeight()
    {
        var a = Small();
        var deltas = LoraAdapter.Combine([(a, 0.5f), (a, 0.5f)]);
        var q = deltas[Q];
        Assert.Equal(8, q.Rank);
        Assert.Equal(1f, q.Scale);
        // The stacked update equals the single adapter at scale 1.
        var once = new float[16 * 16];
        var twice = new float[16 * 16];
        a.ToDeltas()[Q].MergeInto(once);
        q.MergeInto(twice);
        LoraFixtureTests.AssertClose(once, twice, 1e-6f, "stacked update");
        // One adapter alone passes through untouched.
        Assert.Same(a.Find(Q)!.A, LoraAdapter.Combine([(a, 2f)])[Q].A);
        Assert.Equal(4f, LoraAdapter.Combine([(a, 2f)])[Q].Scale);

        var other = Small(vRank: 3);
        var mixed = LoraAdapter.Combine([(a, 1f), (other, 1f)]);
        Assert.Equal(5, mixed[V].Rank);
        var bad = new LoraAdapter([new LoraWeight(Q, new float[8], new float[4], 1, 8, 4, 1)], 1, 1);
        var e = Assert.Throws<AgoraException>(() => LoraAdapter.Combine([(a, 1f), (bad, 1f)]));
        Assert.Contains("disagree on the shape", e.Message);
    }

    [Fact]
    public void MergeAddsScaleTimesBTimesA()
    {
        var w = Small().Find(V)!;
        var delta = new LowRankDelta(w.A, w.B, w.Rank, w.In, w.Out, 1.5f);
        var weight = Random(w.Out * w.In, 9);
        var expected = new double[weight.Length];
        for (int o = 0; o < w.Out; o++)
            for (int i = 0; i < w.In; i++)
            {
                double sum = 0;
                for (int r = 0; r < w.Rank; r++) sum += (double)w.B[o * w.Rank + r] * w.A[r * w.In + i];
                expected[o * w.In + i] = weight[o * w.In + i] + 1.5 * sum;
            }
        delta.MergeInto(weight);
        LoraFixtureTests.AssertClose([.. expected.Select(x => (float)x)], weight, 1e-5f, "merged");
        Assert.Throws<ArgumentException>(() => delta.MergeInto(new float[3]));
    }

    [Fact]
    public void MovedRowsGiveThePermutedUpdate()
    {
        var w = Small().Find(V)!;
        var delta = new LowRankDelta(w.A, w.B, w.Rank, w.In, w.Out, 1.5f);
        var rowOf = Enumerable.Range(0, w.Out).Select(r => (r + 3) % w.Out).ToArray();
        var moved = delta.WithRowsMoved(rowOf);
        Assert.Same(delta.A, moved.A);
        var plain = new float[w.Out * w.In];
        var permuted = new float[w.Out * w.In];
        delta.MergeInto(plain);
        moved.MergeInto(permuted);
        for (int r = 0; r < w.Out; r++)
            Assert.Equal(plain.AsSpan(r * w.In, w.In).ToArray(), permuted.AsSpan(rowOf[r] * w.In, w.In).ToArray());
        rowOf[1] = rowOf[0];
        Assert.Contains("not a permutation", Assert.Throws<ArgumentException>(() => delta.WithRowsMoved(rowOf)).Message);
        Assert.Throws<ArgumentException>(() => delta.WithRowsMoved([0]));
    }

    public static TheoryData<string, string> BadConfigs() => new()
    {
        { """{"use_dora": true}""", "DoRA" },
        { """{"peft_type": "IA3"}""", "peft_type is IA3" },
        { """{"peft_type": "LOHA"}""", "peft_type is LOHA" },
        { """{"peft_type": "PROMPT_TUNING"}""", "only LORA" },
        { """{"peft_type": null}""", "'peft_type' is missing" },
        { """{"bias": "all"}""", "'bias' is \"all\"" },
        { """{"modules_to_save": ["lm_head"]}""", "modules_to_save" },
        { """{"fan_in_fan_out": true}""", "fan_in_fan_out" },
        { """{"lora_bias": true}""", "lora_bias" },
        { """{"target_modules": ["k_proj", "q_proj"]}""", "'model.layers.0.self_attn.v_proj', which adapter_config.json does not target" },
        { """{"target_modules": ".*\\.q_proj"}""", "does not target" },
        { """{"exclude_modules": ["v_proj"]}""", "excludes" },
        { """{"r": 8}""", "has rank 4, but adapter_config.json gives it rank 8" },
        { """{"rank_pattern": {"v_proj": 3}}""", "rank 3" },
        { """{"rank_pattern": {"v_proj": "two"}}""", "expected a positive number" },
        { """{"rank_pattern": {"(": 2}}""", "regular expression" },
        { """{"lora_alpha": "sixteen"}""", "'lora_alpha'" },
    };

    [Theory]
    [MemberData(nameof(BadConfigs))]
    public void BadConfigsAreRefusedClearly(string change, string message)
    {
        using var temp = new TempFolder();
        WriteFolder(temp.Path, c =>
        {
            foreach (var (key, value) in JsonNode.Parse(change)!.AsObject()) c[key] = value?.DeepClone();
        });
        var e = Assert.ThrowsAny<AgoraException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void RegexTargetsAndAllLinearAreAccepted()
    {
        using var temp = new TempFolder();
        WriteFolder(temp.Path, c => c["target_modules"] = @".*\.(q_proj|v_proj)");
        Assert.Equal(@".*\.(q_proj|v_proj)", LoraAdapter.Load(temp.Path).TargetModulesRegex);
        WriteFolder(temp.Path, c => c["target_modules"] = new JsonArray("all-linear"));
        Assert.Equal(2, LoraAdapter.Load(temp.Path).Weights.Count);
    }

    [Fact]
    public void BadFoldersAreRefusedClearly()
    {
        using var temp = new TempFolder();
        var e = Assert.Throws<AgoraException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains("no adapter_config.json", e.Message);

        File.WriteAllText(Path.Combine(temp.Path, PeftAdapterFormat.ConfigFile), "{\"peft_type\": \"LORA\", ");
        var f = Assert.Throws<AgoraFormatException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains("not valid JSON", f.Message);

        File.WriteAllText(Path.Combine(temp.Path, PeftAdapterFormat.ConfigFile), "{\"peft_type\": \"LORA\"}");
        e = Assert.Throws<AgoraException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains("no adapter_model.safetensors", e.Message);

        File.WriteAllBytes(Path.Combine(temp.Path, PeftAdapterFormat.PickleWeightsFile), [0x80, 0x02]);
        f = Assert.Throws<AgoraFormatException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains("convert the adapter to safetensors", f.Message);

        var text = Path.Combine(temp.Path, "notes.txt");
        File.WriteAllText(text, "hello");
        f = Assert.Throws<AgoraFormatException>(() => LoraAdapter.Load(text));
        Assert.Contains("neither a GGUF LoRA nor a PEFT adapter", f.Message);
        e = Assert.Throws<AgoraException>(() => LoraAdapter.Load(Path.Combine(temp.Path, "missing")));
        Assert.Contains("no such", e.Message);
    }

    public static TheoryData<string, string> BadTensors() => new()
    {
        { "base_model.model.model.layers.0.self_attn.q_proj.lora_magnitude_vector", "DoRA" },
        { "base_model.model.model.embed_tokens.lora_embedding_A", "embedding" },
        { "base_model.model.model.layers.0.self_attn.q_proj.lora_B.bias", "lora_bias" },
        { "base_model.model.lm_head.weight", "not a LoRA matrix" },
        { "base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight", "has lora_A but no lora_B" },
    };

    [Theory]
    [MemberData(nameof(BadTensors))]
    public void UnexpectedTensorsAreRefusedNamingThem(string extra, string message)
    {
        using var temp = new TempFolder();
        PeftAdapterFormat.Write(Small(), temp.Path);
        var path = Path.Combine(temp.Path, PeftAdapterFormat.WeightsFile);
        var writer = new SafetensorsWriter([new("format", "pt")]);
        using (var file = SafetensorsFile.Open(path))
        {
            foreach (var t in file.Tensors) writer.Add(t.Name, t.DType, t.Shape, file.TensorData(t).ToArray());
            writer.Add(extra, SafetensorsDType.F32, [4, 16], new byte[4 * 16 * 4]);
            writer.Write(path + ".new");
        }
        File.Move(path + ".new", path, overwrite: true);
        var e = Assert.Throws<AgoraFormatException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void MismatchedLoraShapesAreRefused()
    {
        using var temp = new TempFolder();
        var writer = new SafetensorsWriter();
        writer.Add("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", SafetensorsDType.F32, [4, 16], new byte[4 * 16 * 4]);
        writer.Add("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight", SafetensorsDType.F32, [16, 3], new byte[16 * 3 * 4]);
        writer.Write(Path.Combine(temp.Path, PeftAdapterFormat.WeightsFile));
        File.WriteAllText(Path.Combine(temp.Path, PeftAdapterFormat.ConfigFile), """{"peft_type": "LORA", "r": 4}""");
        var e = Assert.Throws<AgoraFormatException>(() => LoraAdapter.Load(temp.Path));
        Assert.Contains("are not [r, in] and [out, r]", e.Message);
    }

    [Fact]
    public void BadGgufAdaptersAreRefusedClearly()
    {
        using var temp = new TempFolder();
        string Write(string adapterType, string architecture, params string[] tensors)
        {
            var writer = new GgufWriter();
            writer.Add("general.architecture", GgufValue.String(architecture));
            writer.Add("general.type", GgufValue.String("adapter"));
            writer.Add("adapter.type", GgufValue.String(adapterType));
            foreach (var t in tensors) writer.AddTensor(t, GgmlType.F32, [4, 4], new byte[64]);
            var path = Path.Combine(temp.Path, $"{Guid.NewGuid():N}.gguf");
            writer.Write(path);
            return path;
        }
        void Refused(string path, string message) =>
            Assert.Contains(message, Assert.Throws<AgoraFormatException>(() => LoraAdapter.Load(path)).Message);

        Refused(Write("cvec", "llama", "direction.0"), "only 'lora' adapters");
        Refused(Write("lora", "gpt2", "blk.0.attn_v.weight.lora_a"), "architecture 'gpt2'");
        Refused(Write("lora", "llama", "blk.0.attn_v.weight"), "not a LoRA matrix");
        Refused(Write("lora", "llama", "blk.0.attn_v.weight.lora_a"), "no .lora_b");
        Refused(Write("lora", "llama", "token_embd.weight.lora_a", "token_embd.weight.lora_b"), "token embeddings");
        Refused(Write("lora", "llama", "blk.0.attn_v.weight.lora_a", "blk.0.attn_v.weight.lora_b", "blk.0.ffn_mystery.weight.lora_a", "blk.0.ffn_mystery.weight.lora_b"),
            "not a weight of a Llama model");

        // A readable GGUF LoRA (v_proj is not permuted, so no model is needed).
        var ok = LoraAdapter.Load(Write("lora", "llama", "blk.0.attn_v.weight.lora_a", "blk.0.attn_v.weight.lora_b"));
        Assert.Equal("model.layers.0.self_attn.v_proj.weight", Assert.Single(ok.Weights).Name);
        Assert.Equal(1f, ok.Scale(ok.Weights[0])); // no alpha: llama.cpp scales by 1
    }
}
