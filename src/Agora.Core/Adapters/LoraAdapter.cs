using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;

namespace Agora.Adapters;

/// <summary>
/// A LoRA adapter as data, whatever file it came from (a PEFT folder or a llama.cpp GGUF LoRA): one
/// <see cref="LoraWeight"/> per changed weight, under Hugging Face names and in Hugging Face row order, plus the
/// settings PEFT's adapter_config.json records. Each weight contributes W x + Scale · B(A x), where Scale is
/// alpha/r, or alpha/√r with rank-stabilised LoRA (PEFT's semantics, per weight).
/// </summary>
public sealed class LoraAdapter
{
    readonly Dictionary<string, LoraWeight> _byName;

    public IReadOnlyList<LoraWeight> Weights { get; }
    /// <summary>The default rank (PEFT's <c>r</c>); a weight's own <see cref="LoraWeight.Rank"/> may differ (<c>rank_pattern</c>).</summary>
    public int Rank { get; }
    /// <summary>The default lora_alpha; a weight's own <see cref="LoraWeight.Alpha"/> may differ (<c>alpha_pattern</c>).</summary>
    public float Alpha { get; }
    /// <summary>Scale alpha/√r instead of alpha/r (rsLoRA).</summary>
    public bool UseRsLora { get; }

    /// <summary>The architecture the file names (GGUF adapters do; PEFT folders do not), or null.</summary>
    public ModelArchitecture? Architecture { get; init; }
    /// <summary>PEFT's <c>base_model_name_or_path</c>, or null.</summary>
    public string? BaseModel { get; init; }
    /// <summary>The file or folder it was read from, or null for one built in memory.</summary>
    public string? SourcePath { get; init; }
    /// <summary>
    /// PEFT's <c>target_modules</c> as a list of module-name suffixes ("q_proj"); when null, writers derive it
    /// from the weights. Mutually exclusive with <see cref="TargetModulesRegex"/>.
    /// </summary>
    public IReadOnlyList<string>? TargetModules { get; init; }
    /// <summary>PEFT's <c>target_modules</c> when given as one regular expression over full module names.</summary>
    public string? TargetModulesRegex { get; init; }
    /// <summary>PEFT's <c>layers_to_transform</c>, or null for all layers.</summary>
    public IReadOnlyList<int>? LayersToTransform { get; init; }
    /// <summary>PEFT's <c>task_type</c>.</summary>
    public string? TaskType { get; init; } = "CAUSAL_LM";
    /// <summary>PEFT's <c>lora_dropout</c> (training only; kept so a written config says what was used).</summary>
    public float Dropout { get; init; }

    public LoraAdapter(IEnumerable<LoraWeight> weights, int rank, float alpha, bool useRsLora = false)
    {
        if (rank <= 0) throw new ArgumentException($"rank {rank} must be positive", nameof(rank));
        if (!float.IsFinite(alpha)) throw new ArgumentException($"alpha {alpha} is not finite", nameof(alpha));
        var list = weights.ToList();
        _byName = new Dictionary<string, LoraWeight>(StringComparer.Ordinal);
        foreach (var w in list)
        {
            if (!_byName.TryAdd(w.Name, w)) throw new ArgumentException($"two LoRA pairs for '{w.Name}'", nameof(weights));
        }
        Weights = list;
        Rank = rank;
        Alpha = alpha;
        UseRsLora = useRsLora;
    }

    public LoraWeight? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>The factor on B(A x) for one weight: alpha/r, or alpha/√r with rsLoRA.</summary>
    public float Scale(LoraWeight weight) =>
        UseRsLora ? weight.Alpha / MathF.Sqrt(weight.Rank) : weight.Alpha / weight.Rank;

    /// <summary>
    /// The updates the engine applies, keyed by Hugging Face weight name, each scale folded with
    /// <paramref name="userScale"/>. The deltas share this adapter's arrays.
    /// </summary>
    public IReadOnlyDictionary<string, LowRankDelta> ToDeltas(float userScale = 1)
    {
        var deltas = new Dictionary<string, LowRankDelta>(Weights.Count, StringComparer.Ordinal);
        foreach (var w in Weights)
            deltas.Add(w.Name, new LowRankDelta(w.A, w.B, w.Rank, w.In, w.Out, Scale(w) * userScale));
        return deltas;
    }

    /// <summary>
    /// Several adapters at once, each with its own user scale, as one delta per weight (the engine's contract).
    /// Where several adapters change one weight, their updates are stacked into one of the summed rank:
    /// Σ sᵢ·Bᵢ(Aᵢ x) = [s₁B₁ | s₂B₂ | …] · ([A₁; A₂; …] x), with scale 1.
    /// </summary>
    public static IReadOnlyDictionary<string, LowRankDelta> Combine(IEnumerable<(LoraAdapter Adapter, float Scale)> adapters)
    {
        var parts = new Dictionary<string, List<LowRankDelta>>(StringComparer.Ordinal);
        foreach (var (adapter, scale) in adapters)
        {
            foreach (var (name, delta) in adapter.ToDeltas(scale))
            {
                if (!parts.TryGetValue(name, out var list)) parts.Add(name, list = []);
                list.Add(delta);
            }
        }
        return parts.ToDictionary(e => e.Key, e => e.Value.Count == 1 ? e.Value[0] : Stack(e.Key, e.Value), StringComparer.Ordinal);
    }

    static LowRankDelta Stack(string name, List<LowRankDelta> parts)
    {
        int inFeatures = parts[0].In, outFeatures = parts[0].Out;
        if (parts.Any(d => d.In != inFeatures || d.Out != outFeatures))
            throw new AgoraException($"the adapters disagree on the shape of '{name}': {string.Join(", ", parts.Select(d => $"[{d.Out}, {d.In}]"))}");
        int rank = checked(parts.Sum(d => d.Rank));
        var a = new float[checked((long)rank * inFeatures)];
        var b = new float[checked((long)outFeatures * rank)];
        int offset = 0;
        foreach (var d in parts)
        {
            d.A.CopyTo(a, offset * inFeatures);
            for (int o = 0; o < outFeatures; o++)
            {
                for (int r = 0; r < d.Rank; r++)
                    b[o * rank + offset + r] = d.Scale * d.B[o * d.Rank + r];
            }
            offset += d.Rank;
        }
        return new LowRankDelta(a, b, rank, inFeatures, outFeatures, 1);
    }

    /// <summary>
    /// Reads a PEFT adapter folder (or a file inside one) or a llama.cpp GGUF LoRA. A GGUF LoRA needs the base
    /// model's <paramref name="config"/> to undo llama.cpp's row orders; a PEFT folder does not.
    /// </summary>
    public static LoraAdapter Load(string path, ModelConfig? config = null)
    {
        if (Directory.Exists(path)) return PeftAdapterFormat.Read(path);
        if (!File.Exists(path)) throw new AgoraException($"{path}: no such LoRA adapter file or folder");
        if (GgufFile.HasMagic(path)) return GgufLoraFormat.Read(path, config);
        var name = System.IO.Path.GetFileName(path);
        if (name is PeftAdapterFormat.ConfigFile or PeftAdapterFormat.WeightsFile or PeftAdapterFormat.PickleWeightsFile)
            return PeftAdapterFormat.Read(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        throw new AgoraFormatException(path, "neither a GGUF LoRA nor a PEFT adapter folder (adapter_config.json + adapter_model.safetensors)");
    }

    /// <summary>Reads an adapter for <paramref name="model"/> and checks that it fits it.</summary>
    public static LoraAdapter Load(string path, Checkpoint model)
    {
        var adapter = Load(path, model.Config);
        adapter.Validate(model);
        return adapter;
    }

    /// <summary>Refuses an adapter that does not fit the model: another architecture, a weight it lacks, other shapes.</summary>
    public void Validate(Checkpoint model) =>
        Validate(model.Config, name => model.Find(name)?.Shape, model.Path);

    /// <param name="weightShape">The PyTorch-order shape of a model weight by Hugging Face name, or null when absent.</param>
    /// <param name="modelName">How error messages name the model.</param>
    public void Validate(ModelConfig config, Func<string, IReadOnlyList<long>?> weightShape, string modelName = "the model")
    {
        string source = SourcePath ?? "LoRA adapter";
        if (Architecture is { } own && own != config.Architecture)
            throw new AgoraFormatException(source, $"the adapter is for {own}, but {modelName} is {config.Architecture}");
        foreach (var w in Weights)
        {
            var shape = weightShape(w.Name)
                ?? throw new AgoraFormatException(source, $"the adapter changes '{w.Name}', which {modelName} ({config.Architecture}) does not have; is the adapter for another architecture?");
            if (shape.Count != 2)
                throw new AgoraFormatException(source, $"the adapter changes '{w.Name}', which in {modelName} is not a matrix [{string.Join(", ", shape)}]");
            if (shape[0] != w.Out || shape[1] != w.In)
                throw new AgoraFormatException(source,
                    $"'{w.Name}': the adapter's update is [{w.Out}, {w.In}] (B [{w.Out}, {w.Rank}] · A [{w.Rank}, {w.In}]), but {modelName}'s weight is [{string.Join(", ", shape)}]; is the adapter for another model size?");
        }
    }

    /// <summary>The module name suffixes the weights cover ("q_proj", …), in first-seen order: PEFT's target_modules.</summary>
    public IReadOnlyList<string> DerivedTargetModules() =>
        [.. Weights.Select(w => w.Module[(w.Module.LastIndexOf('.') + 1)..]).Distinct()];
}
