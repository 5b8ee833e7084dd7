using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tensors;

namespace Agora.Adapters;

/// <summary>
/// llama.cpp's GGUF LoRA (what convert_lora_to_gguf.py writes): <c>general.type</c> "adapter", <c>adapter.type</c>
/// "lora", <c>adapter.lora.alpha</c>, and per weight <c>blk.N.attn_q.weight.lora_a</c> (ggml [in, r]) and
/// <c>….lora_b</c> (ggml [r, out]). llama.cpp scales every pair by alpha / r (r from its shape; alpha 0 means 1)
/// and knows no rsLoRA or per-module alphas.
/// </summary>
/// <remarks>
/// The converter re-orders lora_b's rows exactly as the base weight's (LLaMA q/k for pairwise rope, BLOOM's
/// fused QKV), so undoing it needs the base model's head counts: reading and writing take its config.
/// </remarks>
public static class GgufLoraFormat
{
    const string ASuffix = ".lora_a";
    const string BSuffix = ".lora_b";
    const string AlphaKey = "adapter.lora.alpha";

    public static LoraAdapter Read(string path, ModelConfig? config)
    {
        using var gguf = GgufFile.Open(path);
        var kind = gguf.TryGetValue("general.type", out _) ? gguf.GetString("general.type") : "model";
        if (kind != "adapter")
            throw new AgoraFormatException(path, $"general.type is '{kind}', not 'adapter': this is not a LoRA adapter (a model?)");
        var adapterType = gguf.TryGetValue("adapter.type", out _) ? gguf.GetString("adapter.type") : "(missing)";
        if (adapterType != "lora")
            throw new AgoraFormatException(path, $"adapter.type is '{adapterType}'; only 'lora' adapters are supported");
        if (gguf.TryGetValue("adapter.alora.invocation_tokens", out _))
            throw new AgoraFormatException(path, "the adapter is an activated LoRA (adapter.alora.invocation_tokens), which Agora does not support");
        var architecture = ParseArchitecture(gguf);
        if (config != null && config.Architecture != architecture)
            throw new AgoraFormatException(path, $"the adapter is for {architecture}, but the model is {config.Architecture}");
        float alpha = gguf.TryGetValue(AlphaKey, out _) ? (float)gguf.GetDouble(AlphaKey) : 0;
        if (!float.IsFinite(alpha)) throw new AgoraFormatException(path, $"{AlphaKey} is {alpha}");

        var pairs = new Dictionary<string, (GgufTensorInfo? A, GgufTensorInfo? B)>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var t in gguf.Tensors)
        {
            bool isA = t.Name.EndsWith(ASuffix, StringComparison.Ordinal);
            if (!isA && !t.Name.EndsWith(BSuffix, StringComparison.Ordinal))
                throw new AgoraFormatException(path, $"tensor '{t.Name}' is not a LoRA matrix (…{ASuffix} / …{BSuffix}); adapters carrying other tensors are not supported");
            var weight = t.Name[..^ASuffix.Length];
            if (!pairs.TryGetValue(weight, out var pair)) order.Add(weight);
            pairs[weight] = isA ? (t, pair.B) : (pair.A, t);
        }
        if (order.Count == 0) throw new AgoraFormatException(path, "holds no LoRA tensors");

        var weights = new List<LoraWeight>(order.Count);
        foreach (var weight in order)
        {
            var (a, b) = pairs[weight];
            if (a == null || b == null)
                throw new AgoraFormatException(path, $"'{weight}' has {(a == null ? BSuffix : ASuffix)} but no {(a == null ? ASuffix : BSuffix)}");
            if (weight.StartsWith("token_embd.", StringComparison.Ordinal))
                throw new AgoraFormatException(path, $"'{weight}': LoRA on the token embeddings is not supported");
            var hfName = GgufTensorNames.ToHf(architecture, weight);
            if (hfName == null || !hfName.EndsWith(".weight", StringComparison.Ordinal))
                throw new AgoraFormatException(path, $"'{weight}' is not a weight of a {architecture} model that Agora knows");
            // ggml order: a is [in, r], b is [r, out].
            if (a.Shape.Length != 2 || b.Shape.Length != 2 || a.Shape[1] != b.Shape[0]
                || a.Shape.Any(d => d is <= 0 or > int.MaxValue) || b.Shape.Any(d => d is <= 0 or > int.MaxValue))
                throw new AgoraFormatException(path,
                    $"'{weight}': {ASuffix} [{string.Join(", ", a.Shape)}] and {BSuffix} [{string.Join(", ", b.Shape)}] are not ggml [in, r] and [r, out]");
            int inFeatures = (int)a.Shape[0], rank = (int)a.Shape[1], outFeatures = (int)b.Shape[1];
            var aValues = LoraTensorData.Decode(path, a.Name, a.Type, gguf.TensorData(a), rank, inFeatures);
            var bStored = LoraTensorData.Decode(path, b.Name, b.Type, gguf.TensorData(b), outFeatures, rank);
            var rowOrder = RowOrder(path, architecture, config, hfName, b.Name, outFeatures);
            var bValues = rowOrder == null ? bStored : new float[bStored.Length];
            if (rowOrder != null)
            {
                for (int row = 0; row < outFeatures; row++)
                    bStored.AsSpan(rowOrder[row] * rank, rank).CopyTo(bValues.AsSpan(row * rank, rank));
            }
            weights.Add(new LoraWeight(hfName, aValues, bValues, rank, inFeatures, outFeatures, alpha == 0 ? rank : alpha));
        }
        int commonRank = weights.GroupBy(w => w.Rank).OrderByDescending(g => g.Count()).ThenBy(g => g.Key).First().Key;
        return new LoraAdapter(weights, commonRank, alpha == 0 ? commonRank : alpha)
        {
            Architecture = architecture,
            SourcePath = path,
        };
    }

    /// <summary>
    /// Writes <paramref name="adapter"/> as a GGUF LoRA for a model of <paramref name="config"/>, atomically.
    /// Where llama.cpp's alpha/r would not give a weight its scale (rsLoRA, per-module alphas), B is multiplied
    /// by the ratio so the update B·A·scale is the same.
    /// </summary>
    public static void Write(LoraAdapter adapter, string path, ModelConfig config, GgmlType type = GgmlType.F32)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16 or GgmlType.BF16))
            throw new ArgumentException($"LoRA matrices are written as F32, F16 or BF16, not {type}", nameof(type));
        var architecture = config.Architecture;
        if (adapter.Architecture is { } own && own != architecture)
            throw new AgoraException($"the adapter is for {own}, but the model config is {architecture}");
        var writer = new GgufWriter();
        writer.Add("general.architecture", GgufValue.String(ArchitectureName(architecture)));
        writer.Add("general.type", GgufValue.String("adapter"));
        writer.Add("adapter.type", GgufValue.String("lora"));
        writer.Add(AlphaKey, GgufValue.Float32(adapter.Alpha));
        writer.Add("general.quantization_version", GgufValue.UInt32(GgufWriter.QuantizationVersion));
        foreach (var w in adapter.Weights)
        {
            var name = GgufTensorNames.ToGguf(architecture, w.Name)
                ?? throw new AgoraException($"'{w.Name}' has no llama.cpp name in a {architecture} model, so the adapter cannot be written as GGUF");
            float llamaScale = adapter.Alpha == 0 ? 1 : adapter.Alpha / w.Rank;
            float fold = adapter.Scale(w) / llamaScale;
            var b = w.B;
            var rowOrder = RowOrder(path, architecture, config, w.Name, name + BSuffix, w.Out);
            if (rowOrder != null || fold != 1)
            {
                b = new float[w.B.Length];
                for (int row = 0; row < w.Out; row++)
                {
                    var target = b.AsSpan((rowOrder?[row] ?? row) * w.Rank, w.Rank);
                    w.B.AsSpan(row * w.Rank, w.Rank).CopyTo(target);
                    if (fold != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(target, fold, target);
                }
            }
            writer.AddTensor(name + ASuffix, type, [w.In, w.Rank], LoraTensorData.Encode(type, w.A));
            writer.AddTensor(name + BSuffix, type, [w.Rank, w.Out], LoraTensorData.Encode(type, b));
        }
        writer.Write(path);
    }

    /// <summary>For each Hugging Face row of lora_b, the GGUF row holding it; null where the converter keeps the order.</summary>
    static int[]? RowOrder(string path, ModelArchitecture architecture, ModelConfig? config, string hfName, string tensor, int rows)
    {
        bool q = architecture == ModelArchitecture.Llama && hfName.EndsWith(".self_attn.q_proj.weight", StringComparison.Ordinal);
        bool k = architecture == ModelArchitecture.Llama && hfName.EndsWith(".self_attn.k_proj.weight", StringComparison.Ordinal);
        bool qkv = architecture == ModelArchitecture.Bloom && hfName.EndsWith(".self_attention.query_key_value.weight", StringComparison.Ordinal);
        if (!(q || k || qkv)) return null;
        if (config == null)
            throw new AgoraException($"{path}: the base model's config is needed to undo llama.cpp's row order of '{tensor}' (pass the model)");
        return qkv
            ? GgufRowOrder.BloomQkv(path, tensor, rows, config.HeadCount)
            : GgufRowOrder.Rope(path, tensor, rows, q ? config.HeadCount : config.KvHeadCount);
    }

    static ModelArchitecture ParseArchitecture(GgufFile gguf)
    {
        var name = gguf.GetString("general.architecture");
        return name switch
        {
            "llama" => ModelArchitecture.Llama,
            "qwen2" => ModelArchitecture.Qwen2,
            "bloom" => ModelArchitecture.Bloom,
            _ => throw new AgoraFormatException(gguf.Path, $"the adapter is for architecture '{name}', which Agora does not support (llama, qwen2, bloom)"),
        };
    }

    static string ArchitectureName(ModelArchitecture architecture) => architecture switch
    {
        ModelArchitecture.Llama => "llama",
        ModelArchitecture.Qwen2 => "qwen2",
        ModelArchitecture.Bloom => "bloom",
        _ => throw new ArgumentOutOfRangeException(nameof(architecture)),
    };
}
