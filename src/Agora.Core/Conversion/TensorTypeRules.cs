using System.Text.RegularExpressions;
using Agora.Formats.Checkpoint;
using Agora.Tensors;

namespace Agora.Conversion;

/// <summary>
/// The type each tensor of a GGUF model gets under a quantization scheme, following llama.cpp's choice
/// (llama_tensor_get_type, without an importance matrix or overrides) for the schemes Agora writes: vectors, norms
/// and non-weights keep their type; the output head (and a tied embedding) gets Q6_K unless the scheme is Q8_0;
/// Q4_K_M/Q5_K_M give Q6_K to the attention-value (or fused QKV) and FFN-down weights of the layers that "use more
/// bits"; a type whose block does not divide the row length falls back as llama.cpp falls back. The plain F32, F16
/// and BF16 conversions give every matrix their type, as llama.cpp does for non-quantized targets.
/// </summary>
public static partial class TensorTypeRules
{
    /// <summary>The output type of every tensor, in the order given. Names and shapes are GGUF's (ggml order).</summary>
    public static GgmlType[] Choose(QuantizationScheme scheme, ModelConfig config, IReadOnlyList<(string Name, GgmlType Type, long[] Shape)> tensors)
    {
        bool tied = !tensors.Any(t => t.Name == "output.weight");
        int valueTensors = tensors.Count(t => IsAttentionValue(t.Name));
        // llama.cpp treats an 80-layer grouped-query LLaMA as its 70B, whose small attn_v earns more bits.
        bool is70B = config.Architecture == ModelArchitecture.Llama && config.LayerCount == 80 && config.HeadCount != config.KvHeadCount;
        var types = new GgmlType[tensors.Count];
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, type, shape) = tensors[i];
            types[i] = !AllowsQuantization(name, shape) ? type
                : !scheme.IsQuantized ? scheme.DefaultType
                : Fallback(name, Preferred(scheme, name, shape[0], tied, valueTensors, config.LayerCount, is70B), shape[0]);
        }
        return types;
    }

    /// <summary>Only matrices named *.weight are quantized, never norms (llama.cpp's rule for these families).</summary>
    static bool AllowsQuantization(string name, long[] shape)
    {
        int dims = shape.Length;
        while (dims > 1 && shape[dims - 1] == 1) dims--;
        return dims >= 2 && name.EndsWith("weight", StringComparison.Ordinal)
            && !name.Contains("_norm.weight", StringComparison.Ordinal)
            && !name.Contains("ffn_gate_inp.weight", StringComparison.Ordinal)
            && name != "position_embd.weight" && name != "token_types.weight";
    }

    static GgmlType Preferred(QuantizationScheme scheme, string name, long rowLength, bool tied, int valueTensors, int layers, bool is70B)
    {
        var type = scheme.DefaultType;
        if (name == "output.weight" || (tied && name == "token_embd.weight"))
            return rowLength % GgmlTypeInfo.BlockSize(type) != 0 ? GgmlType.Q8_0
                : type == GgmlType.Q8_0 ? GgmlType.Q8_0 : GgmlType.Q6_K;
        if (name == "token_embd.weight") return type;
        if (IsAttentionValue(name))
        {
            // llama.cpp counts these tensors in layer order, so the counter is the layer number.
            if (scheme.UsesMoreBitsRule && UseMoreBits(Layer(name), valueTensors)) type = GgmlType.Q6_K;
            if (is70B && type is GgmlType.Q3_K or GgmlType.Q4_K) type = GgmlType.Q5_K;
            return type;
        }
        if (name.Contains("ffn_down", StringComparison.Ordinal) && scheme.UsesMoreBitsRule && UseMoreBits(Layer(name), layers))
            return GgmlType.Q6_K;
        return type;
    }

    /// <summary>llama.cpp's layer pick for extra bits: the first and last eighth, and every third layer between.</summary>
    static bool UseMoreBits(int layer, int layers) =>
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>A type whose block does not divide the row falls back to a 32-element type (F16 if even that does not divide it); the 32-element types have no fallback.</summary>
    static GgmlType Fallback(string name, GgmlType type, long rowLength)
    {
        if (rowLength % GgmlTypeInfo.BlockSize(type) == 0) return type;
        var fallback = type switch
        {
            GgmlType.Q2_K or GgmlType.Q3_K => GgmlType.Q4_0,
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            _ => throw new AgoraException($"tensor '{name}': rows of {rowLength} elements are not a multiple of the {type} block size {GgmlTypeInfo.BlockSize(type)}, and llama.cpp defines no fallback for {type}"),
        };
        return rowLength % GgmlTypeInfo.BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    static bool IsAttentionValue(string name) =>
        name.Contains("attn_v.weight", StringComparison.Ordinal) || name.Contains("attn_qkv.weight", StringComparison.Ordinal);

    [GeneratedRegex(@"^blk\.(\d{1,9})\.")]
    private static partial Regex BlockPrefix();

    static int Layer(string name) => BlockPrefix().Match(name) is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0;
}
