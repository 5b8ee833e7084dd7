using System.Globalization;
using System.Text.Json;
using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Formats.HuggingFace;

namespace Agora.Conversion;

/// <summary>
/// The model part of a converted file's metadata, in the order llama.cpp's converter writes it: <c>general.*</c>
/// (architecture, type, name, size label), then the <c>{arch}.*</c> hyper-parameters with <c>general.file_type</c>
/// among them.
/// </summary>
static class HfModelMetadata
{
    /// <summary>GGUF's name of each architecture (Mistral, SmolLM and TinyLlama are "llama").</summary>
    public static string ArchitectureName(ModelArchitecture architecture) => architecture switch
    {
        ModelArchitecture.Llama => "llama",
        ModelArchitecture.Qwen2 => "qwen2",
        ModelArchitecture.Bloom => "bloom",
        _ => throw new ArgumentOutOfRangeException(nameof(architecture)),
    };

    /// <summary>The general.* entries. llama.cpp also reads a model card and derives basename/finetune/version from the name; only the name is kept here.</summary>
    /// <param name="parameters">The elements of all tensors written, for the size label.</param>
    public static IEnumerable<KeyValuePair<string, GgufValue>> General(string folder, ModelArchitecture architecture, JsonElement raw, long parameters)
    {
        yield return new("general.architecture", GgufValue.String(ArchitectureName(architecture)));
        yield return new("general.type", GgufValue.String("model"));
        yield return new("general.name", GgufValue.String(Name(folder, raw)));
        yield return new("general.size_label", GgufValue.String(SizeLabel(parameters)));
    }

    /// <summary>
    /// The {arch}.* hyper-parameters and general.file_type. Where llama.cpp writes a key only when config.json has the
    /// field, Agora writes it always when the engine needs it (context length, KV heads, rope base: transformers'
    /// defaults then), except key/value lengths, written only for an explicit head_dim as llama.cpp does. Llama 3 rope
    /// scaling is the <c>rope_freqs</c> tensor, not keys. A sliding window, which llama.cpp's converter drops for
    /// these architectures, is kept as <c>{arch}.attention.sliding_window</c> so the file attends as the folder does.
    /// </summary>
    public static IEnumerable<KeyValuePair<string, GgufValue>> HyperParameters(ModelConfig config, HfConfig hf, JsonElement raw, uint fileType)
    {
        var a = ArchitectureName(config.Architecture);
        KeyValuePair<string, GgufValue> Count(string key, int value) => new($"{a}.{key}", GgufValue.UInt32((uint)value));
        KeyValuePair<string, GgufValue> Real(string key, double value) => new($"{a}.{key}", GgufValue.Float32((float)value));
        var file = new KeyValuePair<string, GgufValue>("general.file_type", GgufValue.UInt32(fileType));

        if (config.Architecture == ModelArchitecture.Bloom)
        {
            yield return Count("context_length", config.ContextLength);
            yield return Count("embedding_length", config.HiddenSize);
            yield return Count("feed_forward_length", config.IntermediateSize);
            yield return Count("block_count", config.LayerCount);
            yield return Count("attention.head_count", config.HeadCount);
            yield return Count("attention.head_count_kv", config.KvHeadCount);
            yield return Real("attention.layer_norm_epsilon", hf.NormEpsilon);
            yield return file;
            yield break;
        }
        yield return Count("block_count", config.LayerCount);
        yield return Count("context_length", config.ContextLength);
        yield return Count("embedding_length", config.HiddenSize);
        yield return Count("feed_forward_length", config.IntermediateSize);
        yield return Count("attention.head_count", config.HeadCount);
        yield return Count("attention.head_count_kv", config.KvHeadCount);
        if (config.RopeScaling is { Kind: RopeScalingKind.Linear } linear)
        {
            yield return new($"{a}.rope.scaling.type", GgufValue.String("linear"));
            yield return Real("rope.scaling.factor", linear.Factor);
        }
        yield return Real("rope.freq_base", hf.RopeTheta);
        yield return Real("attention.layer_norm_rms_epsilon", hf.NormEpsilon);
        if (HfJson.Member(raw, "head_dim") != null)
        {
            yield return Count("attention.key_length", config.HeadDim);
            yield return Count("attention.value_length", config.HeadDim);
        }
        yield return file;
        if (config.SlidingWindow is { } window) yield return Count("attention.sliding_window", window);
        if (config.Architecture == ModelArchitecture.Llama)
        {
            yield return Count("vocab_size", config.VocabSize);
            yield return Count("rope.dimension_count", config.RopeDimensions);
        }
    }

    /// <summary>
    /// llama.cpp's model name: config.json's _name_or_path when it is a Hub id rather than a path, else the folder's
    /// name, without the organisation and in title form ("hf" → "Hf", "SmolLM2-135M-Instruct" → "SmolLM2 135M Instruct").
    /// </summary>
    static string Name(string folder, JsonElement raw)
    {
        var id = HfJson.Member(raw, "_name_or_path") is { ValueKind: JsonValueKind.String } n && n.GetString() is { Length: > 0 } s
            && s.Count(c => c == '/') <= 1 && !s.StartsWith('.') && !s.StartsWith('/')
            ? s
            : Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(folder)));
        if (id.Contains(' ')) return id;
        var name = id[(id.IndexOf('/') + 1)..];
        return string.Join(' ', name.Replace('-', ' ').Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(TitleWord));
    }

    /// <summary>Python's str.title() for an all-lowercase word that is not a version or number; other words are kept.</summary>
    static string TitleWord(string word)
    {
        bool lower = word.Any(char.IsLetter) && !word.Any(char.IsUpper);
        bool versionLike = char.IsDigit(word[0]) || (word[0] == 'v' && word.Length > 1 && word[1..].All(c => char.IsDigit(c) || c == '.'));
        if (!lower || versionLike) return word;
        var chars = word.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
            chars[i] = i == 0 || !char.IsLetter(chars[i - 1]) ? char.ToUpperInvariant(chars[i]) : chars[i];
        return new string(chars);
    }

    /// <summary>gguf-py's size label: the parameter count with two significant digits at least and a K/M/B/T suffix ("1.8M", "443K").</summary>
    internal static string SizeLabel(long parameters)
    {
        var (scaled, suffix) = parameters >= 1e12 ? (parameters * 1e-12, "T") : parameters >= 1e9 ? (parameters * 1e-9, "B")
            : parameters >= 1e6 ? (parameters * 1e-6, "M") : (parameters * 1e-3, "K");
        int digits = Math.Round(scaled, MidpointRounding.ToEven).ToString("0", CultureInfo.InvariantCulture).TrimStart('0').Length;
        return scaled.ToString("F" + Math.Max(2 - digits, 0), CultureInfo.InvariantCulture) + suffix;
    }
}
