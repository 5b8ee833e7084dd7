using Agora.Formats.Gguf;

namespace Agora.Tokenization.Gguf;

/// <summary>
/// Reads the <c>tokenizer.ggml.*</c> metadata of a GGUF file into a <see cref="GgufTokenizer"/>, with llama.cpp's
/// defaults and its name-based special-token detection; metadata that contradicts itself is refused.
/// </summary>
public static class GgufTokenizerLoader
{
    const string Prefix = "tokenizer.ggml.";

    public static GgufTokenizer Load(GgufFile file)
    {
        string path = file.Path;
        AgoraFormatException Bad(string problem) => new(path, problem);
        bool Has(string key) => file.Metadata.ContainsKey(Prefix + key);

        string model = file.GetString(Prefix + "model");
        bool spm;
        string? preName = Has("pre") ? file.GetString(Prefix + "pre") : null;
        switch (model)
        {
            case "llama": spm = true; break;
            case "gpt2": spm = false; break;
            case "gemma4": spm = false; preName = "gemma4"; break;
            default:
                throw Bad(model switch
                {
                    "bert" => "tokenizer.ggml.model 'bert' (WordPiece) is not supported",
                    "t5" => "tokenizer.ggml.model 't5' (Unigram) is not supported",
                    "rwkv" => "tokenizer.ggml.model 'rwkv' is not supported",
                    "none" or "no_vocab" => $"tokenizer.ggml.model '{model}': the file has no vocabulary",
                    _ => $"tokenizer.ggml.model '{model}' is not supported (supported: 'llama', 'gpt2')",
                });
        }
        LlamaCppPreTokenizerSpec? pre;
        try { pre = spm ? null : LlamaCppPreTokenizers.Get(preName); }
        catch (AgoraException e) { throw new AgoraFormatException(path, e.Message); }

        string[] tokens = file.GetStringArray(Prefix + "tokens");
        int n = tokens.Length;
        if (n == 0) throw Bad("tokenizer.ggml.tokens is empty");

        float[] scores = new float[n];
        if (Has("scores"))
        {
            var v = file.Metadata[Prefix + "scores"];
            float[] s = v.Type == GgufValueType.Array && v.ElementType == GgufValueType.Int32
                ? Array.ConvertAll(file.GetInt32Array(Prefix + "scores"), x => (float)x)
                : file.GetFloat32Array(Prefix + "scores");
            if (s.Length != n) throw Bad($"tokenizer.ggml.scores has {s.Length} entries for {n} tokens");
            scores = s;
        }

        var attrs = new TokenAttributes[n];
        if (Has("token_type"))
        {
            int[] types = file.GetInt32Array(Prefix + "token_type");
            if (types.Length != n) throw Bad($"tokenizer.ggml.token_type has {types.Length} entries for {n} tokens");
            for (int i = 0; i < n; i++)
                attrs[i] = types[i] switch
                {
                    1 => TokenAttributes.Normal,
                    2 => TokenAttributes.Unknown,
                    3 => TokenAttributes.Control,
                    4 => TokenAttributes.UserDefined,
                    5 => TokenAttributes.Unused,
                    6 => TokenAttributes.Byte,
                    _ => TokenAttributes.None,
                };
        }
        else Array.Fill(attrs, TokenAttributes.Normal);

        var ids = new Dictionary<string, int>(n, StringComparer.Ordinal);
        for (int i = 0; i < n; i++)
        {
            // llama.cpp names empty tokens so that they can never match text.
            if (tokens[i].Length == 0) tokens[i] = $"[EMPTY_{i}]";
            if (!ids.TryAdd(tokens[i], i))
                throw Bad($"tokenizer.ggml.tokens: duplicate token \"{tokens[i]}\" at ids {ids[tokens[i]]} and {i}");
        }

        List<BpeMerge>? merges = null;
        if (!spm)
        {
            if (!Has("merges")) throw Bad("tokenizer.ggml.merges is missing (a 'gpt2' vocabulary needs its merges)");
            string[] lines = file.GetStringArray(Prefix + "merges");
            merges = new List<BpeMerge>(lines.Length);
            for (int i = 0; i < lines.Length; i++)
            {
                int space = lines[i].IndexOf(' ', 1 < lines[i].Length ? 1 : 0);
                if (space <= 0) throw Bad($"tokenizer.ggml.merges[{i}] \"{lines[i]}\" is not two symbols separated by a space");
                merges.Add(new BpeMerge(lines[i], space));
            }
        }

        int? Special(string key, int? fallback)
        {
            if (fallback is { } f && f >= n) fallback = null;
            if (!Has(key)) return fallback;
            long id = file.GetInt64(Prefix + key);
            if (id < 0 || id >= n) throw Bad($"tokenizer.ggml.{key} is {id}, outside the vocabulary of {n} tokens");
            return (int)id;
        }
        bool Flag(string key, bool fallback) => Has(key) ? file.GetBool(Prefix + key) : fallback;

        var specials = new GgufSpecialTokens(
            Bos: pre?.NoBosToken == true && !Has("bos_token_id") ? null : Special("bos_token_id", spm ? 1 : 11),
            Eos: Special("eos_token_id", spm ? 2 : 11),
            Eot: Special("eot_token_id", null),
            Eom: Special("eom_token_id", null),
            Unknown: Special("unknown_token_id", spm ? 0 : null),
            Separator: Special("seperator_token_id", null),
            Padding: Special("padding_token_id", null));

        bool addBos = Flag("add_bos_token", spm || pre!.AddBos);
        bool addEos = Flag("add_eos_token", false);
        if (addBos && specials.Bos == null) throw Bad("tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
        if (addEos && specials.Eos == null) throw Bad("tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");

        var settings = new GgufTokenizerSettings(
            Spm: spm,
            Pre: pre,
            AddBos: addBos,
            AddEos: addEos,
            AddSpacePrefix: Flag("add_space_prefix", spm),
            RemoveExtraWhitespaces: Flag("remove_extra_whitespaces", false));
        return new GgufTokenizer(path, tokens, scores, attrs, ids, merges, specials, settings);
    }
}

/// <summary>llama.cpp's token attributes (from <c>tokenizer.ggml.token_type</c>, adjusted by name detection).</summary>
[Flags]
public enum TokenAttributes
{
    None = 0,
    Unknown = 1,
    Unused = 2,
    Normal = 4,
    Control = 8,
    UserDefined = 16,
    Byte = 32,
}

/// <summary>The special token ids of a GGUF vocabulary (null where it has none).</summary>
public sealed record GgufSpecialTokens(int? Bos, int? Eos, int? Eot, int? Eom, int? Unknown, int? Separator, int? Padding);

/// <summary>How a GGUF vocabulary tokenizes, after llama.cpp's defaults and the file's own flags.</summary>
/// <param name="Spm">A SentencePiece ("llama") vocabulary rather than byte-level BPE ("gpt2").</param>
/// <param name="Pre">The BPE pre-tokenizer (null for SentencePiece).</param>
public sealed record GgufTokenizerSettings(
    bool Spm, LlamaCppPreTokenizerSpec? Pre, bool AddBos, bool AddEos, bool AddSpacePrefix, bool RemoveExtraWhitespaces);
