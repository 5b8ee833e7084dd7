using System.Text.Json;
using Agora.Tokenization.Gguf;
using static Agora.Conversion.HfJson;

namespace Agora.Conversion;

/// <summary>
/// The llama.cpp name (<c>tokenizer.ggml.pre</c>) of a byte-level tokenizer.json's pre-tokenizer, found by what it
/// does: its splits in order (each Split regex, Digits, and ByteLevel's own GPT-2 split when use_regex is on) are
/// translated through a table of the Hugging Face spellings of the families Agora knows into the patterns of
/// <see cref="LlamaCppPreTokenizers"/>, and the name is one whose patterns are exactly those and which takes whole-word
/// tokens before merging exactly when model.ignore_merges says so. Names that split alike differ only in what
/// decoding does to spaces before punctuation and in whether BOS is added when the file does not say (the converted
/// file says, see <see cref="HfSpecialTokens"/>); of those the name llama.cpp's converter gives the family is taken.
/// A regex outside the table, or a step llama.cpp has no counterpart for, is refused.
/// </summary>
static class HfPreTokenizerName
{
    /// <summary>Hugging Face spelling (as tokenizer.json holds it, JSON escapes decoded) → the same split as Agora's llama.cpp patterns spell it.</summary>
    static readonly Dictionary<string, string> Splits = new(StringComparer.Ordinal)
    {
        // GPT-2, the split ByteLevel makes with use_regex; llama.cpp leaves out the final \s+, whose matches it keeps as gaps.
        [@"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"] = LlamaCppPreTokenizer.Gpt2Pattern,
        // Llama 3 (OpenAI's cl100k); llama.cpp spells the case-insensitive contractions out.
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] =
            LlamaCppPreTokenizer.Llama3Pattern,
        // Qwen2 to Qwen3: Llama 3's with one digit at a time.
        [@"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"] =
            LlamaCppPreTokenizer.Qwen2Pattern,
        // BLOOM: for Oniguruma the inner [...] is a nested class, a union, so the set is llama.cpp's flat one.
        [" ?[^(\\s|[.,!?\u2026\u3002\uFF0C\u3001\u0964\u06D4\u060C])]+"] = LlamaCppPreTokenizers.Bloom,
        // DeepSeek-V3: digits by threes, CJK runs, then words; the file holds CR and LF as the characters themselves.
        [@"\p{N}{1,3}"] = @"\p{N}{1,3}",
        ["[\u4E00-\u9FA5\u3040-\u309F\u30A0-\u30FF]+"] = LlamaCppPreTokenizers.Cjk,
        [@"[!""#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^" + "\r\n" + @"\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[" + "\r\n" +
            @"]*|\s*[" + "\r\n" + @"]+|\s+(?!\S)|\s+"] = LlamaCppPreTokenizers.DeepSeek3Words,
    };

    /// <summary>The names llama.cpp's converter writes for these families, preferred over other names that behave alike.</summary>
    static readonly string[] Preferred = ["gpt-2", "llama-bpe", "smaug-bpe", "qwen2", "bloom", "deepseek-v3", "starcoder", "smollm"];

    /// <param name="path">tokenizer.json, for errors.</param>
    public static string Of(string path, JsonElement root, JsonElement model)
    {
        CheckNormalizer(path, root);
        var patterns = Patterns(path, root);
        bool ignoreMerges = Bool(model, "ignore_merges");
        var alike = LlamaCppPreTokenizers.Names.Select(LlamaCppPreTokenizers.Get)
            .Where(s => s.ByteEncode && !s.EscapeWhitespace && !s.NoBosToken && s.IgnoreMerges == ignoreMerges && s.Patterns.SequenceEqual(patterns))
            .ToList();
        if (alike.Count == 0)
            throw new AgoraFormatException(path, $"no llama.cpp pre-tokenizer splits with [{string.Join(", ", patterns.Select(p => $"'{p}'"))}] " +
                $"{(ignoreMerges ? "taking" : "without taking")} whole-word tokens before merging (model.ignore_merges), so this tokenizer cannot be named in GGUF");
        return alike.MinBy(s => Array.IndexOf(Preferred, s.Name) is var rank and >= 0 ? rank : Preferred.Length)!.Name;
    }

    /// <summary>
    /// llama.cpp's byte-level vocabularies do not normalize text, so a normalizer is refused, but for NFC: it leaves
    /// text already composed (nearly all text) as it is, and llama.cpp's own Qwen files make the same simplification.
    /// </summary>
    static void CheckNormalizer(string path, JsonElement root)
    {
        foreach (var step in Steps(path, Member(root, "normalizer"), "normalizers", "the normalizer"))
            if (String(path, step, "type") is var type and not "NFC")
                throw new AgoraFormatException(path, $"the tokenizer's normalizer {type ?? step.GetRawText()} has no counterpart in llama.cpp's byte-level vocabularies, which do not normalize text");
    }

    /// <summary>The pre-tokenizer's splits in order, spelled as <see cref="LlamaCppPreTokenizers"/> spells them.</summary>
    static List<string> Patterns(string path, JsonElement root)
    {
        var patterns = new List<string>();
        bool byteLevel = false;
        foreach (var step in Steps(path, Member(root, "pre_tokenizer"), "pretokenizers", "the pre-tokenizer"))
        {
            var type = String(path, step, "type") ?? step.GetRawText();
            if (byteLevel)
                throw new AgoraFormatException(path, $"the pre-tokenizer step {type} comes after ByteLevel, which no llama.cpp pre-tokenizer does");
            switch (type)
            {
                case "Split":
                    patterns.Add(Split(path, step));
                    break;
                case "Digits":
                    patterns.Add(Bool(step, "individual_digits") ? @"\p{N}" : @"\p{N}+");
                    break;
                case "ByteLevel":
                    if (Bool(step, "add_prefix_space"))
                        throw new AgoraFormatException(path, "the ByteLevel pre-tokenizer puts a space before the text (add_prefix_space), which no llama.cpp pre-tokenizer does");
                    if (Bool(step, "use_regex", fallback: true)) patterns.Add(LlamaCppPreTokenizer.Gpt2Pattern);
                    byteLevel = true;
                    break;
                default:
                    throw new AgoraFormatException(path, $"the pre-tokenizer step {type} has no counterpart in llama.cpp's byte-level vocabularies");
            }
        }
        if (!byteLevel)
            throw new AgoraFormatException(path, "the pre-tokenizer has no ByteLevel step, which llama.cpp's byte-level (gpt2) vocabularies need");
        return patterns;
    }

    static string Split(string path, JsonElement step)
    {
        var regex = Member(step, "pattern") is { } p ? String(path, p, "Regex") : null;
        if (regex == null || String(path, step, "behavior") != "Isolated" || Bool(step, "invert"))
            throw new AgoraFormatException(path, $"the pre-tokenizer's Split {step.GetRawText()} is not a regex whose matches and gaps become words, the only split llama.cpp makes");
        return Splits.GetValueOrDefault(regex) ?? throw new AgoraFormatException(path,
            $"the pre-tokenizer splits with the regex '{regex}', which Agora knows from no llama.cpp pre-tokenizer, so this tokenizer cannot be named in GGUF");
    }

    /// <summary>A normalizer's or pre-tokenizer's steps: those of a Sequence (under <paramref name="list"/>), else the node itself; none when absent.</summary>
    static IEnumerable<JsonElement> Steps(string path, JsonElement? node, string list, string what)
    {
        if (node is not { } n) return [];
        Object(path, n, what);
        if (String(path, n, "type") != "Sequence") return [n];
        return Member(n, list) is { ValueKind: JsonValueKind.Array } items
            ? items.EnumerateArray().Select(i => Object(path, i, $"an item of '{list}'"))
            : throw new AgoraFormatException(path, $"{what} is a Sequence without a '{list}' list");
    }
}
