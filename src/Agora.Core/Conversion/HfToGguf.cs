using System.Runtime.InteropServices;
using Agora.Formats;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Formats.Safetensors;
using Agora.Tensors;

namespace Agora.Conversion;

/// <summary>
/// A Hugging Face checkpoint laid out as llama.cpp's convert_hf_to_gguf.py lays it out, for the architectures Agora
/// runs (llama — LLaMA, Mistral, SmolLM, TinyLlama —, qwen2, bloom): its metadata (<see cref="HfModelMetadata"/>,
/// <see cref="HfVocabulary"/>) and its tensors under GGUF names, in the converter's order (each shard's tensors sorted
/// by name), with LLaMA's Q/K rows interleaved for llama.cpp's pairwise rope and BLOOM's fused QKV rows regrouped —
/// the maps <see cref="GgufRowOrder"/> gives, which <see cref="Checkpoint"/> undoes when it reads such a file. Writing
/// the layout (<see cref="ModelQuantizer.Quantize"/>) chooses the types: F32 for vectors and norms as the converter
/// does, the requested type for matrices.
/// </summary>
public static unsafe class HfToGguf
{
    /// <summary>The GGUF layout of a checkpoint opened on a Hugging Face folder, which must stay open while it is used.</summary>
    /// <param name="fileType">The general.file_type the file will declare (llama.cpp's LLAMA_FTYPE).</param>
    public static GgufLayout Layout(Checkpoint checkpoint, uint fileType)
    {
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (checkpoint.Format != CheckpointFormat.HuggingFace || checkpoint.HfConfig is not { } hf)
            throw new ArgumentException($"{checkpoint.Path} is not a Hugging Face checkpoint", nameof(checkpoint));
        var config = checkpoint.Config;
        using var raw = FormatJson.ReadFile(Path.Combine(checkpoint.Path, "config.json"), "config");

        var tensors = Tensors(checkpoint, config);
        var metadata = new List<KeyValuePair<string, GgufValue>>();
        metadata.AddRange(HfModelMetadata.General(checkpoint.Path, config.Architecture, raw.RootElement, tensors.Sum(t => t.ElementCount)));
        metadata.AddRange(HfModelMetadata.HyperParameters(config, hf, raw.RootElement, fileType));
        metadata.AddRange(HfVocabulary.Metadata(checkpoint.Path, config.Architecture, hf.VocabSize, raw.RootElement));
        metadata.Add(new("general.quantization_version", GgufValue.UInt32(GgufWriter.QuantizationVersion)));
        return new GgufLayout(3, metadata, tensors);
    }

    /// <summary>Tensors the converter drops: buffers some checkpoints save that the model recomputes.</summary>
    static bool Dropped(string name) =>
        name.EndsWith(".rotary_emb.inv_freq", StringComparison.Ordinal) || name.EndsWith(".attention.masked_bias", StringComparison.Ordinal)
        || name.EndsWith(".attention.bias", StringComparison.Ordinal);

    static List<GgufLayoutTensor> Tensors(Checkpoint checkpoint, ModelConfig config)
    {
        var tensors = new List<GgufLayoutTensor>();
        // Llama 3 scaling is a tensor of per-frequency divisors, written before the weights as the converter does.
        if (config.RopeScaling is { Kind: RopeScalingKind.Llama3 } scaling)
        {
            var factors = scaling.Llama3FrequencyFactors(config.RopeDimensions, config.RopeTheta);
            var pinned = GC.AllocateArray<float>(factors.Length, pinned: true);
            factors.CopyTo(pinned, 0);
            tensors.Add(new GgufLayoutTensor("rope_freqs.weight", [pinned.Length], GgmlType.F32, GgmlType.F32, 4L * pinned.Length,
                () => Marshal.UnsafeAddrOfPinnedArrayElement(pinned, 0)));
        }
        bool hasHead = checkpoint.Find("lm_head.weight") != null;
        foreach (var t in SourceOrder(checkpoint))
        {
            if (Dropped(t.Name)) continue;
            var name = GgufTensorNames.ToGguf(config.Architecture, t.Name)
                ?? throw new AgoraFormatException(checkpoint.Path, $"tensor '{t.SourceName}' has no GGUF name for {HfModelMetadata.ArchitectureName(config.Architecture)} models (llama.cpp's converter cannot map it either)");
            if (t.Type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
                throw new AgoraFormatException(checkpoint.Path, $"tensor '{t.SourceName}' is {t.Type}; only F32, F16 and BF16 weights convert");
            var tensor = t;
            var layout = new GgufLayoutTensor(name, [.. t.Shape.Reverse()], GgmlType.F32, t.Type, t.ByteSize, () => (nint)tensor.Pointer,
                RowOrder(checkpoint.Path, config, t));
            tensors.Add(layout);
            // The converter these GGUF files come from writes BLOOM's tied embedding again as the output matrix.
            if (config.Architecture == ModelArchitecture.Bloom && name == "token_embd.weight" && !hasHead)
                tensors.Add(layout with { Name = "output.weight" });
        }
        return tensors;
    }

    /// <summary>
    /// The converter's order: shard by shard (shards by file name), each shard's tensors sorted by name — what the
    /// safetensors library lists.
    /// </summary>
    static IEnumerable<CheckpointTensor> SourceOrder(Checkpoint checkpoint)
    {
        var index = Path.Combine(checkpoint.Path, SafetensorsIndex.FileName);
        var shards = File.Exists(index) ? SafetensorsIndex.Read(index) : null;
        return checkpoint.Tensors
            .OrderBy(t => shards?.GetValueOrDefault(t.SourceName) ?? "", StringComparer.Ordinal)
            .ThenBy(t => t.SourceName, StringComparer.Ordinal);
    }

    /// <summary>For LLaMA's q/k projections and BLOOM's fused QKV, the GGUF row of each Hugging Face row; null for the rest.</summary>
    static int[]? RowOrder(string path, ModelConfig config, CheckpointTensor t)
    {
        bool llama = config.Architecture == ModelArchitecture.Llama;
        bool q = llama && t.Name.Contains(".self_attn.q_proj.", StringComparison.Ordinal);
        bool k = llama && t.Name.Contains(".self_attn.k_proj.", StringComparison.Ordinal);
        bool qkv = config.Architecture == ModelArchitecture.Bloom && t.Name.Contains(".self_attention.query_key_value.", StringComparison.Ordinal);
        if (!(q || k || qkv)) return null;
        long rows = t.Shape[0];
        return qkv ? GgufRowOrder.BloomQkv(path, t.Name, rows, config.HeadCount)
            : GgufRowOrder.Rope(path, t.Name, rows, q ? config.HeadCount : config.KvHeadCount);
    }
}
