using Agora.Formats.Gguf;
using Agora.Formats.HuggingFace;
using Agora.Formats.Safetensors;
using Agora.Tensors;

namespace Agora.Formats.Checkpoint;

public enum CheckpointFormat { Gguf, HuggingFace }

/// <summary>
/// One view over a model checkpoint, GGUF file or Hugging Face folder: an architecture-neutral
/// <see cref="ModelConfig"/> and the weights under Hugging Face names, in PyTorch shape order, memory-mapped.
/// </summary>
/// <remarks>
/// llama.cpp's converter re-orders rows of some tensors (LLaMA's Q/K for its pairwise rope, BLOOM's fused QKV).
/// Each such tensor says so (<see cref="CheckpointTensor.StoredOrder"/>) and offers both layouts: its
/// <see cref="CheckpointTensor.Pointer"/> undoes the order, so training, LoRA adapters (whose B matrices are in
/// Hugging Face row order) and tests see one layout, at the cost of one copy of those tensors made on first access
/// (a row permutation, valid for quantized rows too); its <see cref="CheckpointTensor.StoredPointer"/> reads them in
/// place, for a model that computes with the stored order (inference: no copy).
/// </remarks>
public sealed unsafe class Checkpoint : IDisposable
{
    readonly Lazy<ModelConfig> _config;
    readonly Dictionary<string, CheckpointTensor> _byName;
    readonly IDisposable _file;

    public string Path { get; }
    public CheckpointFormat Format { get; }
    /// <summary>The hyper-parameters; a format error (e.g. an unsupported GGUF architecture) is raised on first use.</summary>
    public ModelConfig Config => _config.Value;
    /// <summary>The GGUF file, for metadata beyond the model config (tokenizer, chat template).</summary>
    public GgufFile? Gguf { get; }
    public HfConfig? HfConfig { get; }
    public GenerationConfig? GenerationConfig { get; }
    public IReadOnlyList<CheckpointTensor> Tensors { get; }

    Checkpoint(string path, CheckpointFormat format, IDisposable file, Func<ModelConfig> config, List<CheckpointTensor> tensors,
        GgufFile? gguf = null, HfConfig? hfConfig = null, GenerationConfig? generationConfig = null)
    {
        Path = path;
        Format = format;
        _file = file;
        _config = new Lazy<ModelConfig>(config);
        Tensors = tensors;
        Gguf = gguf;
        HfConfig = hfConfig;
        GenerationConfig = generationConfig;
        _byName = new Dictionary<string, CheckpointTensor>(StringComparer.Ordinal);
        foreach (var t in tensors)
        {
            if (!_byName.TryAdd(t.Name, t))
                throw new AgoraFormatException(path, $"two tensors are both named '{t.Name}' (one is '{t.SourceName}')");
        }
    }

    /// <summary>
    /// Opens a GGUF file (recognised by its magic), or a Hugging Face folder holding config.json and
    /// safetensors weights (a path to a file inside such a folder also works).
    /// </summary>
    public static Checkpoint Open(string path)
    {
        if (Directory.Exists(path)) return OpenHf(path);
        if (!File.Exists(path)) throw new AgoraException($"{path}: no such file or folder");
        if (GgufFile.HasMagic(path)) return OpenGguf(path);
        var folder = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!;
        if (File.Exists(System.IO.Path.Combine(folder, "config.json"))) return OpenHf(folder);
        throw new AgoraFormatException(path, "neither a GGUF file nor part of a Hugging Face folder (no config.json beside it)");
    }

    public CheckpointTensor? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The tensor named <paramref name="name"/>, or a format error naming the checkpoint.</summary>
    public CheckpointTensor Get(string name) =>
        Find(name) ?? throw new AgoraFormatException(Path, $"no tensor named '{name}'");

    public void Dispose()
    {
        foreach (var t in Tensors) t.Release();
        _file.Dispose();
    }

    static Checkpoint OpenHf(string folder)
    {
        var configPath = System.IO.Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new AgoraException($"{folder}: no config.json, so not a Hugging Face checkpoint");
        var hf = HuggingFace.HfConfig.Load(configPath);
        var generationPath = System.IO.Path.Combine(folder, "generation_config.json");
        var generation = File.Exists(generationPath) ? HuggingFace.GenerationConfig.Load(generationPath) : null;
        var set = SafetensorsSet.Open(folder);
        try
        {
            // Architecture only for naming; the full config check waits for Config.
            var family = hf.ModelType == "bloom" ? ModelArchitecture.Bloom : ModelArchitecture.Llama;
            var tensors = new List<CheckpointTensor>(set.Tensors.Count);
            foreach (var t in set.Tensors)
            {
                var type = SafetensorsDTypeInfo.ToGgml(t.DType)
                    ?? throw new AgoraFormatException(set.FileOf(t).Path, $"tensor '{t.Name}' has dtype {t.DType}, which Agora cannot compute with");
                var file = set.FileOf(t);
                var info = t;
                tensors.Add(new CheckpointTensor(GgufTensorNames.CanonicalHf(family, t.Name), t.Name, type, t.Shape, t.ElementCount,
                    t.ByteSize, () => (nint)file.TensorPointer(info)));
            }
            return new Checkpoint(folder, CheckpointFormat.HuggingFace, set, () => ModelConfig.FromHf(hf, configPath), tensors,
                hfConfig: hf, generationConfig: generation);
        }
        catch
        {
            set.Dispose();
            throw;
        }
    }

    static Checkpoint OpenGguf(string path)
    {
        var gguf = GgufFile.Open(path);
        try
        {
            ModelArchitecture? family = gguf.TryGetValue("general.architecture", out var arch) && arch.Type == GgufValueType.String
                ? arch.AsString() switch
                {
                    "llama" => ModelArchitecture.Llama,
                    "qwen2" => ModelArchitecture.Qwen2,
                    "bloom" => ModelArchitecture.Bloom,
                    _ => null,
                }
                : null;
            Checkpoint? checkpoint = null;
            var tensors = new List<CheckpointTensor>(gguf.Tensors.Count);
            foreach (var t in gguf.Tensors)
            {
                // Unknown architectures keep GGUF names: the tensors stay readable, Config refuses.
                var name = family is { } f ? GgufTensorNames.ToHf(f, t.Name) ?? t.Name : t.Name;
                long[] shape = [.. t.Shape.Reverse()];
                var info = t;
                var (order, rows) = RowOrder(path, family, name, t, shape, () => checkpoint!.Config);
                tensors.Add(new CheckpointTensor(name, t.Name, t.Type, shape, t.ElementCount, t.ByteSize,
                    () => (nint)gguf.TensorPointer(info), order, rows));
            }
            checkpoint = new Checkpoint(path, CheckpointFormat.Gguf, gguf, () => ModelConfig.FromGguf(gguf), tensors, gguf);
            return checkpoint;
        }
        catch
        {
            gguf.Dispose();
            throw;
        }
    }

    /// <summary>How the file orders this tensor's rows, with the map from Hugging Face rows to stored ones (null for Hugging Face order).</summary>
    static (StoredRowOrder, Func<int[]>?) RowOrder(string path, ModelArchitecture? family, string name, GgufTensorInfo t, long[] shape,
        Func<ModelConfig> config)
    {
        bool llamaQ = family == ModelArchitecture.Llama && name.Contains(".self_attn.q_proj.", StringComparison.Ordinal);
        bool llamaK = family == ModelArchitecture.Llama && name.Contains(".self_attn.k_proj.", StringComparison.Ordinal);
        bool bloomQkv = family == ModelArchitecture.Bloom && name.Contains(".self_attention.query_key_value.", StringComparison.Ordinal);
        if (!(llamaQ || llamaK || bloomQkv)) return (StoredRowOrder.HuggingFace, null);
        // Rows are the outermost dimension; a 1-D tensor's rows are its elements, which must not be split blocks.
        if (shape.Length == 1 && GgmlTypeInfo.IsQuantized(t.Type))
            throw new AgoraFormatException(path, $"tensor '{t.Name}' is a quantized vector; its rows cannot be re-ordered");
        long rows = shape[0];
        if (rows > int.MaxValue)
            throw new AgoraFormatException(path, $"tensor '{t.Name}' has {rows} rows");
        if (bloomQkv) return (StoredRowOrder.QkvGrouped, () => GgufRowOrder.BloomQkv(path, t.Name, rows, config().HeadCount));
        return (StoredRowOrder.RopePairs, () => GgufRowOrder.Rope(path, t.Name, rows, llamaQ ? config().HeadCount : config().KvHeadCount));
    }
}
