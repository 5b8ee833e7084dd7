using System.Text.RegularExpressions;

namespace Agora.Formats.Checkpoint;

/// <summary>
/// llama.cpp's tensor names mapped to the Hugging Face names of each family (the names PEFT adapters use).
/// The inverse of the converter's mapping, for the tensors these families have.
/// </summary>
static partial class GgufTensorNames
{
    static readonly Dictionary<string, string> LlamaGlobal = new()
    {
        ["token_embd"] = "model.embed_tokens",
        ["output_norm"] = "model.norm",
        ["output"] = "lm_head",
    };

    static readonly Dictionary<string, string> LlamaBlock = new()
    {
        ["attn_norm"] = "input_layernorm",
        ["attn_q"] = "self_attn.q_proj",
        ["attn_k"] = "self_attn.k_proj",
        ["attn_v"] = "self_attn.v_proj",
        ["attn_output"] = "self_attn.o_proj",
        ["ffn_norm"] = "post_attention_layernorm",
        ["ffn_gate"] = "mlp.gate_proj",
        ["ffn_up"] = "mlp.up_proj",
        ["ffn_down"] = "mlp.down_proj",
    };

    static readonly Dictionary<string, string> BloomGlobal = new()
    {
        ["token_embd"] = "transformer.word_embeddings",
        ["token_embd_norm"] = "transformer.word_embeddings_layernorm",
        ["output_norm"] = "transformer.ln_f",
        ["output"] = "lm_head",
    };

    static readonly Dictionary<string, string> BloomBlock = new()
    {
        ["attn_norm"] = "input_layernorm",
        ["attn_qkv"] = "self_attention.query_key_value",
        ["attn_output"] = "self_attention.dense",
        ["ffn_norm"] = "post_attention_layernorm",
        ["ffn_up"] = "mlp.dense_h_to_4h",
        ["ffn_down"] = "mlp.dense_4h_to_h",
    };

    [GeneratedRegex(@"^blk\.(\d{1,9})\.([a-z_]+)\.(weight|bias)$")]
    private static partial Regex BlockTensor();

    [GeneratedRegex(@"^([a-z_]+)\.(weight|bias)$")]
    private static partial Regex GlobalTensor();

    /// <summary>The Hugging Face name of a GGUF tensor, or null for one with no counterpart (kept under its GGUF name).</summary>
    public static string? ToHf(ModelArchitecture architecture, string ggufName)
    {
        bool bloom = architecture == ModelArchitecture.Bloom;
        if (BlockTensor().Match(ggufName) is { Success: true } block)
        {
            var table = bloom ? BloomBlock : LlamaBlock;
            var prefix = bloom ? "transformer.h" : "model.layers";
            return table.TryGetValue(block.Groups[2].Value, out var part)
                ? $"{prefix}.{int.Parse(block.Groups[1].Value)}.{part}.{block.Groups[3].Value}"
                : null;
        }
        if (GlobalTensor().Match(ggufName) is { Success: true } global)
        {
            var table = bloom ? BloomGlobal : LlamaGlobal;
            return table.TryGetValue(global.Groups[1].Value, out var part) ? $"{part}.{global.Groups[2].Value}" : null;
        }
        return null;
    }

    [GeneratedRegex(@"^(model\.layers|transformer\.h)\.(\d{1,9})\.([a-z0-9_.]+)\.(weight|bias)$")]
    private static partial Regex HfBlockTensor();

    /// <summary>The GGUF name of a Hugging Face tensor (the inverse of <see cref="ToHf"/>), or null for one llama.cpp does not name.</summary>
    public static string? ToGguf(ModelArchitecture architecture, string hfName)
    {
        bool bloom = architecture == ModelArchitecture.Bloom;
        if (HfBlockTensor().Match(hfName) is { Success: true } block)
        {
            if (block.Groups[1].Value != (bloom ? "transformer.h" : "model.layers")) return null;
            var part = block.Groups[3].Value;
            var gguf = (bloom ? BloomBlock : LlamaBlock).FirstOrDefault(e => e.Value == part).Key;
            return gguf == null ? null : $"blk.{int.Parse(block.Groups[2].Value)}.{gguf}.{block.Groups[4].Value}";
        }
        foreach (var (gguf, hf) in bloom ? BloomGlobal : LlamaGlobal)
        {
            if (hfName == hf + ".weight") return gguf + ".weight";
            if (hfName == hf + ".bias") return gguf + ".bias";
        }
        return null;
    }

    /// <summary>
    /// BLOOM checkpoints saved from the bare BloomModel lack the "transformer." prefix that BloomForCausalLM
    /// (and PEFT) use; adding it gives one spelling.
    /// </summary>
    public static string CanonicalHf(ModelArchitecture architecture, string name) =>
        architecture == ModelArchitecture.Bloom && !name.StartsWith("transformer.", StringComparison.Ordinal)
            && !name.StartsWith("lm_head.", StringComparison.Ordinal)
            ? "transformer." + name
            : name;
}
