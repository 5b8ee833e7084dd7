using Agora.Adapters;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tensors;
using Agora.Tensors.Quantization;

namespace Agora.Tests.Adapters;

/// <summary>
/// <see cref="GgufLoraFormat.Write"/> of each fixture PEFT adapter gives the file llama.cpp's convert_lora_to_gguf.py
/// wrote from it (lora-f32.gguf): same tensors in the same order, same types and shapes, same values, same metadata.
/// </summary>
public sealed class GgufLoraWriterTests
{
    public static TheoryData<string> Models => new() { "llama-a", "qwen2-a", "bloom-a" };

    /// <summary>
    /// Model-card keys the converter derives from the adapter folder's name and README (general.name "Lora",
    /// general.tags, general.base_model.*): descriptive only, llama.cpp reads none of them, and Agora writes none.
    /// </summary>
    static bool IsModelCardKey(string key) =>
        key is "general.name" or "general.tags" || key.StartsWith("general.base_model.", StringComparison.Ordinal);

    [Theory]
    [MemberData(nameof(Models))]
    public void WritesWhatLlamaCppsConverterWrites(string model)
    {
        var adapter = LoraAdapter.Load(Fixtures.Require("models", model, "lora"));
        var referencePath = Fixtures.Require("models", model, "lora-f32.gguf");
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        using var folder = new TempFolder();
        var path = Path.Combine(folder.Path, "adapter.gguf");
        GgufLoraFormat.Write(adapter, path, checkpoint.Config);

        using var reference = GgufFile.Open(referencePath);
        using var written = GgufFile.Open(path);
        Assert.Equal(reference.Version, written.Version);
        Assert.Equal(reference.Metadata.Keys.Where(k => !IsModelCardKey(k)), written.Metadata.Keys);
        foreach (var (key, value) in written.Metadata)
        {
            var expected = reference.Metadata[key];
            Assert.Equal(expected.Type, value.Type);
            if (value.Type is GgufValueType.Float32 or GgufValueType.Float64)
                Assert.Equal(expected.AsDouble(), value.AsDouble(), 1e-6);
            else
                Assert.Equal(expected, value);
        }

        Assert.Equal(reference.Tensors.Select(t => t.Name), written.Tensors.Select(t => t.Name));
        foreach (var (expected, actual) in reference.Tensors.Zip(written.Tensors))
        {
            Assert.Equal(expected.Type, actual.Type);
            Assert.Equal(expected.Shape, actual.Shape);
            var e = Values(reference, expected);
            var a = Values(written, actual);
            for (int i = 0; i < e.Length; i++)
                Assert.True(Math.Abs(e[i] - a[i]) <= 1e-6, $"{expected.Name}[{i}]: {e[i]} vs {a[i]}");
        }
    }

    static float[] Values(GgufFile file, GgufTensorInfo tensor)
    {
        var values = new float[tensor.ElementCount];
        Quants.Dequantize(tensor.Type, file.TensorData(tensor), values);
        return values;
    }
}
