using System.Text.Json;
using System.Text.RegularExpressions;
using Agora.Formats;
using Agora.Formats.HuggingFace;
using Agora.Formats.Safetensors;
using Agora.Tensors;

namespace Agora.Adapters;

/// <summary>
/// Hugging Face PEFT's LoRA adapter folder: <c>adapter_config.json</c> and <c>adapter_model.safetensors</c>, whose
/// tensors are named <c>base_model.model.&lt;module&gt;.lora_A.weight</c> [r, in] and <c>….lora_B.weight</c> [out, r].
/// </summary>
public static class PeftAdapterFormat
{
    public const string ConfigFile = "adapter_config.json";
    public const string WeightsFile = "adapter_model.safetensors";
    public const string PickleWeightsFile = "adapter_model.bin";

    const string Prefix = "base_model.model.";
    const string ASuffix = ".lora_A.weight";
    const string BSuffix = ".lora_B.weight";
    static readonly TimeSpan RegexBudget = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Config keys whose feature changes what the adapter computes beyond W + scale·B·A: refused when set
    /// (true, a non-empty list, any object) rather than silently ignored.
    /// </summary>
    static readonly (string Key, string Feature)[] Unsupported =
    [
        ("use_dora", "DoRA (weight-decomposed LoRA)"),
        ("fan_in_fan_out", "fan_in_fan_out (Conv1D layers, as in GPT-2)"),
        ("modules_to_save", "modules_to_save (fully trained extra modules)"),
        ("lora_bias", "lora_bias (a bias on lora_B)"),
        ("use_qalora", "QA-LoRA"),
        ("layer_replication", "layer_replication"),
        ("target_parameters", "target_parameters (LoRA on parameters rather than modules)"),
        ("alora_invocation_tokens", "activated LoRA (alora_invocation_tokens)"),
        ("trainable_token_indices", "trainable_token_indices (trained token embeddings)"),
        ("use_bdlora", "block-diagonal LoRA (use_bdlora)"),
    ];

    /// <summary>Reads a PEFT LoRA folder, refusing every adapter kind and option Agora cannot apply exactly.</summary>
    public static LoraAdapter Read(string folder)
    {
        var configPath = Path.Combine(folder, ConfigFile);
        var weightsPath = Path.Combine(folder, WeightsFile);
        if (!File.Exists(configPath))
            throw new AgoraException($"{folder}: no {ConfigFile}, so not a PEFT adapter folder");
        using var document = FormatJson.ReadFile(configPath, "the adapter config");
        var config = ReadConfig(JsonFields.Root(configPath, document));
        if (!File.Exists(weightsPath))
        {
            if (File.Exists(Path.Combine(folder, PickleWeightsFile)))
                throw new AgoraFormatException(Path.Combine(folder, PickleWeightsFile),
                    "PyTorch pickle weights are not read (unsafe to unpickle); convert the adapter to safetensors, e.g. load it with PEFT and save_pretrained(..., safe_serialization=True)");
            throw new AgoraException($"{folder}: no {WeightsFile} beside {ConfigFile}");
        }
        using var file = SafetensorsFile.Open(weightsPath);
        var weights = ReadWeights(file, config);
        return new LoraAdapter(weights, config.Rank, config.Alpha, config.UseRsLora)
        {
            SourcePath = folder,
            BaseModel = config.BaseModel,
            TaskType = config.TaskType,
            TargetModules = config.TargetList,
            TargetModulesRegex = config.TargetRegex,
            LayersToTransform = config.Layers,
            Dropout = config.Dropout,
        };
    }

    sealed record Config(
        string Path, int Rank, float Alpha, bool UseRsLora, string? BaseModel, string? TaskType, float Dropout,
        string[]? TargetList, string? TargetRegex, Regex? TargetPattern, string[]? ExcludeList, Regex? ExcludePattern,
        int[]? Layers, List<(Regex Pattern, int Rank)> RankPattern, List<(Regex Pattern, float Alpha)> AlphaPattern);

    static Config ReadConfig(JsonFields json)
    {
        var type = json.String("peft_type") ?? throw json.Error("peft_type", "is missing");
        if (type != "LORA")
            throw new AgoraFormatException(json.Path, $"peft_type is {type}; only LORA adapters are supported ({type} adapters compute something else)");
        foreach (var (key, feature) in Unsupported)
        {
            if (json.Get(key) is { } v && IsSet(v))
                throw new AgoraFormatException(json.Path, $"the adapter uses {feature} ('{key}' is {Show(v)}), which Agora does not support");
        }
        var bias = json.String("bias") ?? "none";
        if (bias != "none")
            throw new AgoraFormatException(json.Path, $"'bias' is \"{bias}\": the adapter trains the base model's biases too, which Agora does not support (only \"none\")");

        int rank = json.Count("r") ?? 8;
        float alpha = (float)(json.Double("lora_alpha") ?? 8);
        var (targetList, targetRegex) = StringsOrRegex(json, "target_modules");
        var (excludeList, excludeRegex) = StringsOrRegex(json, "exclude_modules");
        return new Config(
            json.Path, rank, alpha,
            json.Bool("use_rslora") ?? false,
            json.String("base_model_name_or_path"),
            json.String("task_type"),
            (float)(json.Double("lora_dropout") ?? 0),
            targetList, targetRegex, targetRegex == null ? null : FullMatch(json, "target_modules", targetRegex),
            excludeList, excludeRegex == null ? null : FullMatch(json, "exclude_modules", excludeRegex),
            Layers(json),
            Pattern(json, "rank_pattern", v => v.TryGetInt32(out int r) && r > 0 ? r : (int?)null),
            Pattern(json, "alpha_pattern", v => v.TryGetDouble(out double a) && double.IsFinite(a) ? (float)a : (float?)null));
    }

    static bool IsSet(JsonElement v) => v.ValueKind switch
    {
        JsonValueKind.False or JsonValueKind.Null => false,
        JsonValueKind.Array => v.GetArrayLength() > 0,
        JsonValueKind.String => v.GetString()!.Length > 0,
        _ => true,
    };

    static string Show(JsonElement v)
    {
        var raw = v.GetRawText();
        return raw.Length <= 40 ? raw : $"a JSON {FormatJson.Describe(v.ValueKind)}";
    }

    /// <summary>target_modules / exclude_modules: a list of name suffixes or one regular expression.</summary>
    static (string[]? List, string? Regex) StringsOrRegex(JsonFields json, string key) =>
        json.Get(key) is { ValueKind: JsonValueKind.String } s ? (null, s.GetString()) : (json.Has(key) ? json.Strings(key) : null, null);

    /// <summary>Python's re.fullmatch over the module name.</summary>
    static Regex FullMatch(JsonFields json, string key, string pattern) => Compile(json, key, $@"\A(?:{pattern})\z");

    static Regex Compile(JsonFields json, string key, string pattern)
    {
        try { return new Regex(pattern, RegexOptions.CultureInvariant, RegexBudget); }
        catch (ArgumentException e) { throw json.Error(key, $"holds a regular expression .NET cannot read: {e.Message}"); }
    }

    static int[]? Layers(JsonFields json)
    {
        if (json.Get("layers_to_transform") is not { } v) return null;
        if (v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int one) && one >= 0) return [one];
        if (v.ValueKind == JsonValueKind.Array)
            return [.. v.EnumerateArray().Select(x => x.ValueKind == JsonValueKind.Number && x.TryGetInt32(out int n) && n >= 0
                ? n : throw json.Error("layers_to_transform", "holds something other than layer indices"))];
        throw json.Error("layers_to_transform", "is neither a layer index nor a list of them");
    }

    /// <summary>rank_pattern / alpha_pattern: PEFT picks the first key k for which the module name matches (.*\.)?(k)$.</summary>
    static List<(Regex, T)> Pattern<T>(JsonFields json, string key, Func<JsonElement, T?> value) where T : struct
    {
        var patterns = new List<(Regex, T)>();
        if (json.Get(key) is not { } v) return patterns;
        if (v.ValueKind != JsonValueKind.Object) throw json.Error(key, "is not an object");
        foreach (var entry in v.EnumerateObject())
        {
            var parsed = entry.Value.ValueKind == JsonValueKind.Number ? value(entry.Value) : null;
            if (parsed is not { } x) throw json.Error(key, $"gives '{entry.Name}' the value {Show(entry.Value)}, expected a positive number");
            patterns.Add((Compile(json, key, $@"\A(?:.*\.)?(?:{entry.Name})\z"), x));
        }
        return patterns;
    }

    static List<LoraWeight> ReadWeights(SafetensorsFile file, Config config)
    {
        var pairs = new Dictionary<string, (SafetensorsTensorInfo? A, SafetensorsTensorInfo? B)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var t in file.Tensors.OrderBy(t => t.Name, StringComparer.Ordinal))
        {
            var (module, isA) = Classify(file.Path, t.Name);
            if (!pairs.TryGetValue(module, out var pair)) order.Add(module);
            pairs[module] = isA ? (t, pair.B) : (pair.A, t);
        }
        if (order.Count == 0) throw new AgoraFormatException(file.Path, "holds no LoRA tensors");
        var weights = new List<LoraWeight>(order.Count);
        foreach (var module in order)
        {
            var (a, b) = pairs[module];
            if (a == null || b == null)
                throw new AgoraFormatException(file.Path, $"module '{module}' has lora_{(a == null ? "B" : "A")} but no lora_{(a == null ? "A" : "B")}");
            CheckTargeted(config, file.Path, module);
            if (a.Shape.Length != 2 || b.Shape.Length != 2 || a.Shape[0] != b.Shape[1] || a.Shape[0] <= 0 || a.Shape[1] <= 0 || b.Shape[0] <= 0
                || a.Shape[0] > int.MaxValue || a.Shape[1] > int.MaxValue || b.Shape[0] > int.MaxValue)
                throw new AgoraFormatException(file.Path,
                    $"module '{module}': lora_A [{string.Join(", ", a.Shape)}] and lora_B [{string.Join(", ", b.Shape)}] are not [r, in] and [out, r]");
            int rank = (int)a.Shape[0], inFeatures = (int)a.Shape[1], outFeatures = (int)b.Shape[0];
            int expected = Resolve(config.RankPattern, module, config.Rank);
            if (rank != expected)
                throw new AgoraFormatException(file.Path, $"module '{module}' has rank {rank}, but {ConfigFile} gives it rank {expected} (r / rank_pattern)");
            weights.Add(new LoraWeight(module + ".weight", Decode(file, a, rank, inFeatures), Decode(file, b, outFeatures, rank),
                rank, inFeatures, outFeatures, Resolve(config.AlphaPattern, module, config.Alpha)));
        }
        return weights;
    }

    /// <summary>The module a tensor belongs to and whether it is lora_A; every other tensor is refused, naming what it is.</summary>
    static (string Module, bool IsA) Classify(string path, string name)
    {
        if (name.StartsWith(Prefix, StringComparison.Ordinal) && name.Length > Prefix.Length + ASuffix.Length)
        {
            if (name.EndsWith(ASuffix, StringComparison.Ordinal)) return (name[Prefix.Length..^ASuffix.Length], true);
            if (name.EndsWith(BSuffix, StringComparison.Ordinal)) return (name[Prefix.Length..^BSuffix.Length], false);
        }
        string what =
            name.Contains("lora_magnitude_vector", StringComparison.Ordinal) ? "a DoRA magnitude vector; DoRA is not supported" :
            name.Contains("lora_embedding_", StringComparison.Ordinal) ? "LoRA on an embedding layer, which Agora does not support" :
            name.EndsWith(".lora_A.bias", StringComparison.Ordinal) || name.EndsWith(".lora_B.bias", StringComparison.Ordinal) ? "a LoRA bias (lora_bias), which Agora does not support" :
            name.Contains(".lora_E", StringComparison.Ordinal) ? "an AdaLoRA tensor; AdaLoRA is not supported" :
            "not a LoRA matrix (base_model.model.<module>.lora_A.weight or .lora_B.weight)";
        throw new AgoraFormatException(path, $"tensor '{name}' is {what}");
    }

    static void CheckTargeted(Config config, string path, string module)
    {
        bool excluded = Matches(module, config.ExcludeList, config.ExcludePattern);
        bool targeted = config.TargetList == null && config.TargetPattern == null
            || Matches(module, config.TargetList, config.TargetPattern) || config.TargetList?.Contains("all-linear") == true;
        if (excluded || !targeted)
            throw new AgoraFormatException(path,
                $"holds LoRA weights for '{module}', which {ConfigFile} {(excluded ? "excludes (exclude_modules)" : "does not target (target_modules)")}");
    }

    static bool Matches(string module, string[]? list, Regex? pattern)
    {
        if (pattern != null) return Run(() => pattern.IsMatch(module), pattern);
        return list != null && list.Any(t => module == t || module.EndsWith("." + t, StringComparison.Ordinal));
    }

    static T Resolve<T>(List<(Regex Pattern, T Value)> patterns, string module, T fallback)
    {
        foreach (var (pattern, value) in patterns)
        {
            if (Run(() => pattern.IsMatch(module), pattern)) return value;
        }
        return fallback;
    }

    static bool Run(Func<bool> match, Regex pattern)
    {
        try { return match(); }
        catch (RegexMatchTimeoutException) { throw new AgoraException($"{ConfigFile}: the regular expression '{pattern}' takes too long to match"); }
    }

    static float[] Decode(SafetensorsFile file, SafetensorsTensorInfo t, int rows, int rowLength)
    {
        var type = SafetensorsDTypeInfo.ToGgml(t.DType) is { } g && g is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
            ? g
            : throw new AgoraFormatException(file.Path, $"tensor '{t.Name}' is {t.DType}; LoRA matrices must be F32, F16 or BF16");
        return LoraTensorData.Decode(file.Path, t.Name, type, file.TensorData(t), rows, rowLength);
    }

    /// <summary>
    /// Writes <paramref name="adapter"/> as a PEFT folder (created if needed): the tensors first, then the config,
    /// each file written atomically, so a reader never sees a half-written file.
    /// </summary>
    public static void Write(LoraAdapter adapter, string folder, SafetensorsDType dtype = SafetensorsDType.F32)
    {
        var type = SafetensorsDTypeInfo.ToGgml(dtype) is { } g && g is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16
            ? g
            : throw new ArgumentException($"LoRA matrices are written as F32, F16 or BF16, not {dtype}", nameof(dtype));
        try { Directory.CreateDirectory(folder); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new AgoraException($"{folder}: cannot create the adapter folder: {e.Message}", e);
        }
        var writer = new SafetensorsWriter([new("format", "pt")]);
        foreach (var w in adapter.Weights)
        {
            writer.Add(Prefix + w.Module + ASuffix, dtype, [w.Rank, w.In], LoraTensorData.Encode(type, w.A));
            writer.Add(Prefix + w.Module + BSuffix, dtype, [w.Out, w.Rank], LoraTensorData.Encode(type, w.B));
        }
        writer.Write(Path.Combine(folder, WeightsFile));
        AtomicFile.Write(Path.Combine(folder, ConfigFile), ConfigJson(adapter));
    }


    /// <summary>PEFT's config keys (those every PEFT release since rank_pattern reads), sorted and indented as PEFT writes them.</summary>
    static byte[] ConfigJson(LoraAdapter adapter)
    {
        // Per-weight ranks and alphas that differ from the defaults become full-name patterns, which match only that module.
        var rankPattern = adapter.Weights.Where(w => w.Rank != adapter.Rank).Select(w => (w.Module, (double)w.Rank)).ToList();
        var alphaPattern = adapter.Weights.Where(w => w.Alpha != adapter.Alpha).Select(w => (w.Module, (double)w.Alpha)).ToList();
        var keys = new SortedDictionary<string, Action<Utf8JsonWriter>>(StringComparer.Ordinal)
        {
            ["alpha_pattern"] = j => Map(j, alphaPattern),
            ["auto_mapping"] = j => j.WriteNullValue(),
            ["base_model_name_or_path"] = j => String(j, adapter.BaseModel),
            ["bias"] = j => j.WriteStringValue("none"),
            ["fan_in_fan_out"] = j => j.WriteBooleanValue(false),
            ["inference_mode"] = j => j.WriteBooleanValue(true),
            ["init_lora_weights"] = j => j.WriteBooleanValue(true),
            ["layer_replication"] = j => j.WriteNullValue(),
            ["layers_pattern"] = j => j.WriteNullValue(),
            ["layers_to_transform"] = j => Ints(j, adapter.LayersToTransform),
            ["loftq_config"] = j => { j.WriteStartObject(); j.WriteEndObject(); },
            ["lora_alpha"] = j => Number(j, adapter.Alpha),
            ["lora_dropout"] = j => Float(j, adapter.Dropout),
            ["megatron_config"] = j => j.WriteNullValue(),
            ["megatron_core"] = j => j.WriteStringValue("megatron.core"),
            ["modules_to_save"] = j => j.WriteNullValue(),
            ["peft_type"] = j => j.WriteStringValue("LORA"),
            ["r"] = j => j.WriteNumberValue(adapter.Rank),
            ["rank_pattern"] = j => Map(j, rankPattern),
            ["revision"] = j => j.WriteNullValue(),
            ["target_modules"] = j =>
            {
                if (adapter.TargetModulesRegex != null) { j.WriteStringValue(adapter.TargetModulesRegex); return; }
                j.WriteStartArray();
                foreach (var t in adapter.TargetModules ?? adapter.DerivedTargetModules()) j.WriteStringValue(t);
                j.WriteEndArray();
            },
            ["task_type"] = j => String(j, adapter.TaskType),
            ["use_dora"] = j => j.WriteBooleanValue(false),
            ["use_rslora"] = j => j.WriteBooleanValue(adapter.UseRsLora),
        };
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true, IndentSize = 2 }))
        {
            json.WriteStartObject();
            foreach (var (key, write) in keys)
            {
                json.WritePropertyName(key);
                write(json);
            }
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }

    static void String(Utf8JsonWriter json, string? value)
    {
        if (value == null) json.WriteNullValue();
        else json.WriteStringValue(value);
    }

    /// <summary>Integral values as integers (PEFT writes lora_alpha 16, not 16.0), others in float32's shortest form.</summary>
    static void Number(Utf8JsonWriter json, double value)
    {
        if (value == Math.Floor(value) && Math.Abs(value) < 1e15) json.WriteNumberValue((long)value);
        else json.WriteNumberValue((float)value);
    }

    /// <summary>A Python float: always with a fraction or exponent (0.0, not 0).</summary>
    static void Float(Utf8JsonWriter json, float value)
    {
        var text = value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        json.WriteRawValue(text.Contains('.') || text.Contains('E') ? text : text + ".0");
    }

    static void Map(Utf8JsonWriter json, List<(string Key, double Value)> entries)
    {
        json.WriteStartObject();
        foreach (var (key, value) in entries)
        {
            json.WritePropertyName(key);
            Number(json, value);
        }
        json.WriteEndObject();
    }

    static void Ints(Utf8JsonWriter json, IReadOnlyList<int>? values)
    {
        if (values == null) { json.WriteNullValue(); return; }
        json.WriteStartArray();
        foreach (var v in values) json.WriteNumberValue(v);
        json.WriteEndArray();
    }
}
