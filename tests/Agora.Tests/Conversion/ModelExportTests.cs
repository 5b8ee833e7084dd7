using Agora.Adapters;
using Agora.Conversion;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Formats.Safetensors;
using Agora.Inference;
using Agora.Models;
using Agora.Tensors;
using Agora.Tensors.Quantization;
using Agora.Tests.Adapters;
using Agora.Tests.Models;

namespace Agora.Tests.Conversion;

/// <summary>
/// <see cref="ModelExport"/> on the fixtures: untouched models come back unchanged, replaced weights land in the file's
/// own row order and type, and a merged adapter computes what the adapter applied at run time computes.
/// </summary>
public class ModelExportTests
{
    public static TheoryData<string> Models => new() { "llama-a", "qwen2-a", "bloom-a" };

    public static TheoryData<string, string> ModelsAndGgufFiles()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "llama-a", "qwen2-a", "bloom-a" })
            foreach (var file in new[] { "model-f32.gguf", "model-f16.gguf" })
                data.Add(model, file);
        return data;
    }

    public static TheoryData<string, string> ModelsAndSources()
    {
        var data = new TheoryData<string, string>();
        foreach (var model in new[] { "llama-a", "qwen2-a", "bloom-a" })
            foreach (var source in new[] { "hf", "model-f32.gguf", "model-f16.gguf" })
                data.Add(model, source);
        return data;
    }

    static readonly Dictionary<string, float[]> Nothing = [];

    [Theory]
    [MemberData(nameof(ModelsAndGgufFiles))]
    public void GgufWithoutReplacementsIsByteIdentical(string model, string file)
    {
        var path = Fixtures.Require("models", model, file);
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, "copy.gguf");
        using (var source = Checkpoint.Open(path))
            ModelExport.Write(source, Nothing, output);
        Assert.True(File.ReadAllBytes(path).AsSpan().SequenceEqual(File.ReadAllBytes(output)));
    }

    [Theory]
    [MemberData(nameof(Models))]
    public void HfWithoutReplacementsKeepsTensorsAndCopiesTheOtherFiles(string model)
    {
        var hf = Fixtures.Require("models", model, "hf");
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, "copy");
        using (var source = Checkpoint.Open(hf))
            ModelExport.Write(source, Nothing, output);

        AssertSameTensors(hf, output, sameBytes: true);
        var expectedFiles = Directory.GetFiles(hf).Select(Path.GetFileName).Order().ToList();
        Assert.Equal(expectedFiles, Directory.GetFiles(output).Select(Path.GetFileName).Order().ToList());
        foreach (var name in expectedFiles)
            Assert.True(File.ReadAllBytes(Path.Combine(hf, name!)).AsSpan().SequenceEqual(File.ReadAllBytes(Path.Combine(output, name!))), name);
    }

    /// <summary>Merging the fixture adapter and running the result equals running the base model with the adapter applied.</summary>
    [Theory]
    [MemberData(nameof(ModelsAndSources))]
    public void MergedModelComputesWhatTheAdapterComputes(string model, string sourceName)
    {
        var sourcePath = Fixtures.Require("models", model, sourceName);
        var adapterPath = Fixtures.Require("models", model, "lora");
        var reference = ModelReference.Load(model);
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, sourceName == "hf" ? "merged" : "merged.gguf");

        using var source = Checkpoint.Open(sourcePath);
        var adapter = LoraAdapter.Load(adapterPath, source);
        var written = ModelExport.WriteMerged(source, adapter.ToDeltas(), output);
        Assert.Contains(written, f => f.EndsWith(sourceName == "hf" ? "model.safetensors" : "merged.gguf", StringComparison.Ordinal));

        var withAdapter = TransformerModel.Load(source, adapter.ToDeltas());
        using var merged = Checkpoint.Open(output);
        var mergedModel = TransformerModel.Load(merged);
        // F16 files round each merged weight to F16, where the adapter applied at run time keeps it exact.
        double tolerance = sourceName == "model-f16.gguf" ? 2e-3 : 1e-5;
        foreach (var prompt in reference.Prompts)
        {
            var expected = ModelReference.AllLogits(withAdapter.CreateSession(), prompt.Ids);
            var actual = ModelReference.AllLogits(mergedModel.CreateSession(), prompt.Ids);
            double error = ModelReference.RelativeError(actual, expected);
            TestContext.Current.TestOutputHelper?.WriteLine($"{model} {sourceName} prompt {prompt.Index}: relative error {error:0.0e0}");
            Assert.True(error < tolerance, $"prompt {prompt.Index}: relative error {error:0.0e0}");
        }
        // The merge changed the model: the base model's logits are far from the merged ones.
        var baseLogits = ModelReference.AllLogits(TransformerModel.Load(source).CreateSession(), reference.Prompts[0].Ids);
        Assert.True(ModelReference.RelativeError(ModelReference.AllLogits(mergedModel.CreateSession(), reference.Prompts[0].Ids), baseLogits) > 1e-2);

        if (sourceName == "hf") AssertSameTensors(sourcePath, output, sameBytes: false);
        else AssertSameLayout(sourcePath, output);
    }

    [Fact]
    public void QuantizedGgufMergesAndStaysQuantized()
    {
        var f32 = Fixtures.Require("models", "llama-a", "model-f32.gguf");
        var adapterPath = Fixtures.Require("models", "llama-a", "lora");
        var reference = ModelReference.Load("llama-a");
        using var folder = new TempFolder();
        var q8 = Path.Combine(folder.Path, "q8.gguf");
        var output = Path.Combine(folder.Path, "merged-q8.gguf");
        ModelQuantizer.Quantize(f32, q8, QuantizationScheme.Q8_0, threads: 2);

        using var source = Checkpoint.Open(q8);
        var adapter = LoraAdapter.Load(adapterPath, source);
        ModelExport.WriteMerged(source, adapter.ToDeltas(), output);
        AssertSameLayout(q8, output);

        using (var input = GgufFile.Open(q8))
        using (var written = GgufFile.Open(output))
        {
            Assert.Equal(GgmlType.Q8_0, written.FindTensor("blk.0.attn_q.weight")!.Type);
            foreach (var (from, to) in input.Tensors.Zip(written.Tensors))
            {
                bool changed = adapter.Find(source.Tensors.Single(t => t.SourceName == from.Name).Name) != null;
                Assert.Equal(!changed, input.TensorData(from).SequenceEqual(written.TensorData(to)));
            }
        }

        // Against the float32 model with the adapter, merging then re-quantizing costs about what quantizing did:
        // the merged Q8_0 model is as close as the Q8_0 model with the adapter applied at run time.
        using var full = Checkpoint.Open(f32);
        var exact = TransformerModel.Load(full, adapter.ToDeltas());
        var withAdapter = TransformerModel.Load(source, adapter.ToDeltas());
        using var merged = Checkpoint.Open(output);
        var mergedModel = TransformerModel.Load(merged);
        foreach (var prompt in reference.Prompts)
        {
            var expected = ModelReference.AllLogits(exact.CreateSession(), prompt.Ids);
            double quantized = ModelReference.RelativeError(ModelReference.AllLogits(withAdapter.CreateSession(), prompt.Ids), expected);
            double error = ModelReference.RelativeError(ModelReference.AllLogits(mergedModel.CreateSession(), prompt.Ids), expected);
            TestContext.Current.TestOutputHelper?.WriteLine($"prompt {prompt.Index}: Q8_0 + adapter {quantized:0.0e0}, merged Q8_0 {error:0.0e0}");
            Assert.True(error < 1.5 * quantized, $"prompt {prompt.Index}: relative error {error:0.0e0}, Q8_0 with the adapter {quantized:0.0e0}");
        }
    }

    /// <summary>
    /// Replaced weights read back exactly (after their type's rounding), including the tensors whose rows llama.cpp
    /// re-orders (LLaMA q/k, BLOOM's fused QKV weight and bias), which must be scattered back.
    /// </summary>
    [Theory]
    [InlineData("llama-a", "model-f32.gguf")]
    [InlineData("llama-a", "model-f16.gguf")]
    [InlineData("llama-a", "hf")]
    [InlineData("bloom-a", "model-f32.gguf")]
    [InlineData("bloom-a", "model-f16.gguf")]
    [InlineData("qwen2-a", "model-f32.gguf")]
    public void ReplacedWeightsReadBackInHuggingFaceOrder(string model, string sourceName)
    {
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, sourceName == "hf" ? "out" : "out.gguf");
        using var source = Checkpoint.Open(Fixtures.Require("models", model, sourceName));
        string[] names = model switch
        {
            "bloom-a" => ["transformer.h.0.self_attention.query_key_value.weight", "transformer.h.1.self_attention.query_key_value.bias", "transformer.h.0.mlp.dense_4h_to_h.weight"],
            "qwen2-a" => ["model.layers.0.self_attn.q_proj.weight", "model.layers.0.self_attn.k_proj.bias", "model.norm.weight"],
            _ => ["model.layers.0.self_attn.q_proj.weight", "model.layers.1.self_attn.k_proj.weight", "model.layers.0.mlp.up_proj.weight"],
        };
        var random = new Random(7);
        var replaced = names.ToDictionary(n => n, n => Enumerable.Range(0, (int)source.Get(n).ElementCount).Select(_ => (float)random.NextDouble() * 2 - 1).ToArray());
        ModelExport.Write(source, replaced, output);

        using var written = Checkpoint.Open(output);
        foreach (var tensor in source.Tensors)
        {
            var back = written.Get(tensor.Name);
            Assert.Equal(tensor.Type, back.Type);
            Assert.Equal(tensor.Shape, back.Shape);
            if (!replaced.TryGetValue(tensor.Name, out var values))
            {
                Assert.True(tensor.Data.SequenceEqual(back.Data), tensor.Name);
                continue;
            }
            var expected = new byte[tensor.ByteSize];
            Quants.Quantize(tensor.Type, values, expected);
            Assert.True(back.Data.SequenceEqual(expected), tensor.Name);
        }
        // Only GGUF files of LLaMA and BLOOM hold rows in another order.
        Assert.Equal(sourceName != "hf" && model != "qwen2-a", written.Tensors.Any(t => t.IsReordered && replaced.ContainsKey(t.Name)));
    }

    [Fact]
    public void LargeHfModelsAreShardedAndStaleShardsRemoved()
    {
        var hf = Fixtures.Require("models", "llama-a", "hf");
        using var folder = new TempFolder();
        var output = Path.Combine(folder.Path, "sharded");
        using var source = Checkpoint.Open(hf);
        ModelExport.Write(source, Nothing, output, maxShardBytes: 2 << 20);

        var shards = Directory.GetFiles(output, "model-*.safetensors").Select(Path.GetFileName).Order().ToList();
        Assert.True(shards.Count > 2, $"{shards.Count} shards");
        Assert.Equal($"model-00001-of-{shards.Count:00000}.safetensors", shards[0]);
        Assert.True(File.Exists(Path.Combine(output, SafetensorsIndex.FileName)));
        foreach (var shard in shards)
            Assert.True(new FileInfo(Path.Combine(output, shard!)).Length < (2 << 20) + 65536, shard);
        AssertSameTensors(hf, output, sameBytes: true);

        // Written again into the same folder, unsharded: the shards and index of the first export must go.
        ModelExport.Write(source, Nothing, output);
        Assert.Empty(Directory.GetFiles(output, "model-*.safetensors"));
        Assert.False(File.Exists(Path.Combine(output, SafetensorsIndex.FileName)));
        AssertSameTensors(hf, output, sameBytes: true);
    }

    [Fact]
    public void BadReplacementsAndOutputsAreRefusedBeforeWriting()
    {
        using var folder = new TempFolder();
        var gguf = Fixtures.Require("models", "llama-a", "model-f32.gguf");
        var f16 = Fixtures.Require("models", "llama-a", "model-f16.gguf");
        var hf = Fixtures.Require("models", "qwen2-a", "hf");
        var output = Path.Combine(folder.Path, "out.gguf");
        const string q = "model.layers.0.self_attn.q_proj.weight";

        using (var source = Checkpoint.Open(gguf))
        {
            var right = new float[source.Get(q).ElementCount];
            Refused(source, new() { ["model.layers.9.self_attn.q_proj.weight"] = right }, output, "'model.layers.9.self_attn.q_proj.weight' is not a tensor");
            Refused(source, new() { [q] = new float[10] }, output, "holds 10 values");
            var nan = (float[])right.Clone();
            nan[5] = float.NaN;
            Refused(source, new() { [q] = nan }, output, "at index 5 is NaN");
            Refused(source, Nothing, gguf, "is the model itself");
            Refused(source, Nothing, Path.Combine(folder.Path, "folder"), "follows the model's format");
            Refused(source, Nothing, folder.Path, "follows the model's format");
            Refused(source, Nothing, Path.Combine(folder.Path, "missing", "out.gguf"), "does not exist");
        }
        using (var source = Checkpoint.Open(f16))
        {
            var big = new float[source.Get(q).ElementCount];
            big[3] = 70000;
            Refused(source, new() { [q] = big }, output, "beyond the range of F16");
        }
        using (var source = Checkpoint.Open(hf))
        {
            Refused(source, new() { ["lm_head.weight"] = new float[1] }, Path.Combine(folder.Path, "out"), "tied to the token embeddings");
            Refused(source, Nothing, output, "follows the model's format");
            Refused(source, Nothing, hf + "/", "is the model itself");
        }
        Assert.Empty(Directory.GetFileSystemEntries(folder.Path));
    }

    static void Refused(Checkpoint source, Dictionary<string, float[]> replaced, string output, string fragment)
    {
        var e = Assert.Throws<AgoraException>(() => ModelExport.Write(source, replaced, output));
        Assert.Contains(fragment, e.Message);
    }

    /// <summary>The two folders' safetensors hold the same tensor names, dtypes and shapes (and bytes, when asked).</summary>
    static void AssertSameTensors(string expectedFolder, string actualFolder, bool sameBytes)
    {
        using var expected = SafetensorsSet.Open(expectedFolder);
        using var actual = SafetensorsSet.Open(actualFolder);
        Assert.Equal(expected.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape))).Order(),
            actual.Tensors.Select(t => (t.Name, t.DType, string.Join(",", t.Shape))).Order());
        if (!sameBytes) return;
        foreach (var t in expected.Tensors)
            Assert.True(expected.TensorData(t).SequenceEqual(actual.TensorData(actual.Find(t.Name)!)), t.Name);
    }

    /// <summary>Same metadata (byte for byte: the files' headers up to the data are equal) and the same tensor infos.</summary>
    static void AssertSameLayout(string expectedPath, string actualPath)
    {
        using var expected = GgufFile.Open(expectedPath);
        using var actual = GgufFile.Open(actualPath);
        Assert.Equal(expected.DataOffset, actual.DataOffset);
        var header = (int)expected.DataOffset;
        Assert.True(File.ReadAllBytes(expectedPath).AsSpan(0, header).SequenceEqual(File.ReadAllBytes(actualPath).AsSpan(0, header)));
        Assert.Equal(new FileInfo(expectedPath).Length, new FileInfo(actualPath).Length);
    }
}
