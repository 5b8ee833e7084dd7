using System.Text;

namespace Agora.Tokenization.Gguf;

/// <summary>
/// A tokenizer built from GGUF vocabulary metadata that gives llama.cpp's ids: special tokens are cut out of the
/// text first (user-defined ones always, control ones only when asked, longest first), then each remaining fragment
/// goes through SentencePiece's score-driven merges ("llama") or the pre-tokenizer and ranked merges ("gpt2"), both
/// run by the core's <see cref="BpeModel"/>.
/// Build one with <see cref="GgufTokenizerLoader.Load"/>.
/// </summary>
public sealed class GgufTokenizer : ITokenizer, IChunkDecoder
{
    readonly string[] tokens;
    readonly TokenAttributes[] attrs;
    readonly LlamaCppPreTokenizer? splitter;
    readonly BpeModel model;
    readonly ThreadLocal<BpeScratch> scratch = new(() => new BpeScratch());
    readonly int[] specialCache;
    readonly HashSet<int> endOfGeneration = new();
    readonly bool cleanSpaces;

    /// <summary>The file the vocabulary came from.</summary>
    public string Path { get; }
    public GgufSpecialTokens Special { get; }
    public GgufTokenizerSettings Settings { get; }
    public int VocabSize => tokens.Length;
    public string Source => Path;
    public string Description => Settings.Spm ? "SentencePiece (GGUF vocabulary, llama.cpp rules)"
        : $"byte-level BPE (GGUF vocabulary, pre-tokenizer {Settings.Pre!.Name}, llama.cpp rules)";
    public int? BosId => Special.Bos;
    public int? EosId => Special.Eos;
    public int? EotId => Special.Eot;
    public int? PadId => Special.Padding;
    public bool AddBos => Settings.AddBos;
    public bool AddEos => Settings.AddEos;

    internal GgufTokenizer(string path, string[] tokens, float[] scores, TokenAttributes[] attrs, Dictionary<string, int> ids,
        List<BpeMerge>? merges, GgufSpecialTokens special, GgufTokenizerSettings settings)
    {
        Path = path;
        this.tokens = tokens;
        this.attrs = attrs;
        Settings = settings;
        cleanSpaces = settings.Pre?.CleanSpaces ?? false;
        if (settings.Pre is { } pre) splitter = new LlamaCppPreTokenizer(pre.Patterns);
        // SentencePiece vocabularies merge by score: every split of a token (of any type: llama.cpp looks pairs up in the
        // whole vocabulary) into two tokens is a merge ranked by the merged token's score, llama.cpp's SPM bigram order.
        var options = new BpeOptions
        {
            IgnoreMerges = settings.Pre?.IgnoreMerges ?? false,
            ByteFallback = settings.Spm || !settings.Pre!.ByteEncode,
            UnkToken = settings.Spm && special.Unknown is { } unk ? tokens[unk] : null,
        };
        model = new BpeModel(ids, merges ?? BpeModel.MergesFromScores(tokens, scores), options,
            problem => new AgoraFormatException(path, problem));

        Special = DetectByName(special, ids);
        specialCache = Enumerable.Range(0, tokens.Length)
            .Where(i => (attrs[i] & (TokenAttributes.Control | TokenAttributes.UserDefined | TokenAttributes.Unknown)) != 0)
            .OrderByDescending(i => tokens[i].Length).ThenBy(i => i).ToArray();
    }

    public string TokenText(int id) => tokens[id];
    public TokenAttributes Attributes(int id) => attrs[id];

    /// <summary>Control and unknown tokens: the ones llama.cpp hides unless asked to render them.</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)attrs.Length && (attrs[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0;

    /// <summary>Whether generation stops at this token (EOS, EOT, EOM and the end-of-turn tokens llama.cpp knows by name).</summary>
    public bool IsEndOfGeneration(int id) => endOfGeneration.Contains(id);

    // ---- encoding ----

    /// <summary>
    /// The ids of <paramref name="text"/>. <paramref name="addSpecial"/> adds BOS/EOS as the vocabulary asks;
    /// <paramref name="parseSpecial"/> lets control tokens written in the text become their ids (user-defined tokens
    /// always do) — llama.cpp's llama_tokenize flags.
    /// </summary>
    public int[] Encode(string text, bool addSpecial = false, bool parseSpecial = false)
    {
        var output = new List<int>();
        Encode(text, output, addSpecial, parseSpecial);
        return output.ToArray();
    }

    public void Encode(string text, List<int> output, bool addSpecial = false, bool parseSpecial = false)
    {
        try
        {
            EncodeAll(text, output, addSpecial, parseSpecial);
        }
        catch (System.Text.RegularExpressions.RegexMatchTimeoutException e)
        {
            throw OnigurumaRegex.TooSlow(Path, e);
        }
    }

    void EncodeAll(string text, List<int> output, bool addSpecial, bool parseSpecial)
    {
        var fragments = Partition(text, parseSpecial);
        if (addSpecial && Settings.AddBos) output.Add(Special.Bos!.Value);
        bool prevSpecial = true;
        var words = new List<Range>();
        var bpe = scratch.Value!;
        foreach (var f in fragments)
        {
            if (f.Token >= 0)
            {
                output.Add(f.Token);
                prevSpecial = true;
                continue;
            }
            var raw = text.AsSpan(f.Start, f.Length);
            if (Settings.Spm)
            {
                // SentencePiece: a space before the text and after each special token, spaces written as ▁.
                string escaped = (Settings.AddSpacePrefix && prevSpecial ? " " : "") + raw.ToString();
                model.Encode(escaped.Replace(' ', '\u2581'), byteLevel: false, output, bpe);
            }
            else
            {
                string fragment = Settings.Pre!.EscapeWhitespace ? raw.ToString().Replace(' ', '\u2581') : raw.ToString();
                words.Clear();
                splitter!.Split(fragment, words);
                foreach (var w in words) model.Encode(fragment.AsSpan()[w], Settings.Pre.ByteEncode, output, bpe);
            }
            prevSpecial = false;
        }
        if (addSpecial && Settings.AddEos) output.Add(Special.Eos!.Value);
    }

    int[] ITokenizer.Encode(string text, bool addSpecialTokens) => Encode(text, addSpecialTokens, parseSpecial: true);

    void ITokenizer.Encode(string text, List<int> output, bool addSpecialTokens) => Encode(text, output, addSpecialTokens, parseSpecial: true);

    readonly record struct Fragment(int Start, int Length, int Token);

    /// <summary>
    /// llama.cpp's tokenizer_st_partition: for each special token, longest first, every occurrence in the
    /// still-unsplit text becomes that token.
    /// </summary>
    List<Fragment> Partition(string text, bool parseSpecial)
    {
        var fragments = new List<Fragment>();
        if (text.Length == 0) return fragments;
        fragments.Add(new Fragment(0, text.Length, -1));
        var next = new List<Fragment>();
        foreach (int id in specialCache)
        {
            if (!parseSpecial && (attrs[id] & (TokenAttributes.Control | TokenAttributes.Unknown)) != 0) continue;
            string t = tokens[id];
            next.Clear();
            bool any = false;
            foreach (var f in fragments)
            {
                if (f.Token >= 0) { next.Add(f); continue; }
                int pos = f.Start, end = f.Start + f.Length;
                while (pos < end)
                {
                    int at = text.AsSpan(pos, end - pos).IndexOf(t, StringComparison.Ordinal);
                    if (at < 0) break;
                    any = true;
                    if (at > 0) next.Add(new Fragment(pos, at, -1));
                    next.Add(new Fragment(pos + at, t.Length, id));
                    pos += at + t.Length;
                }
                if (pos < end) next.Add(new Fragment(pos, end - pos, -1));
            }
            if (any) (fragments, next) = (next, fragments);
        }
        return fragments;
    }

    // ---- decoding ----

    /// <summary>
    /// The text of <paramref name="ids"/> as llama.cpp's detokenizer writes it: control tokens are left out unless
    /// <paramref name="unparseSpecial"/>, the SentencePiece prefix space is dropped, and where the vocabulary asks
    /// for it spaces before punctuation and contractions are cleaned up.
    /// </summary>
    public string Decode(ReadOnlySpan<int> ids, bool removeSpecial = false, bool unparseSpecial = false) =>
        Decode(ids, removeSpecial, unparseSpecial, atStart: true);

    string ITokenizer.Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens) =>
        Decode(ids, removeSpecial: skipSpecialTokens, unparseSpecial: !skipSpecialTokens, atStart: true);

    string IChunkDecoder.DecodeChunk(ReadOnlySpan<int> ids, bool skipSpecialTokens, bool atStart, out int tokenCount)
    {
        tokenCount = ids.Length;
        return Decode(ids, removeSpecial: skipSpecialTokens, unparseSpecial: !skipSpecialTokens, atStart);
    }

    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);

    /// <summary>Decoding as llama.cpp does it; <paramref name="atStart"/> false continues earlier text, so the
    /// SentencePiece prefix space and a leading BOS are only dropped at the very start.</summary>
    string Decode(ReadOnlySpan<int> ids, bool removeSpecial, bool unparseSpecial, bool atStart)
    {
        var bytes = new List<byte>();
        int first = 0, count = ids.Length;
        bool removeSpace = atStart && Settings.AddSpacePrefix;
        if (atStart && removeSpecial && Settings.AddBos && count > 0 && ids[0] == Special.Bos)
        {
            removeSpace = false;
            first++;
            count--;
        }
        if (removeSpecial && Settings.AddEos && count > 0 && ids[first + count - 1] == Special.Eos) count--;
        for (int i = first; i < first + count; i++)
        {
            int start = bytes.Count;
            AppendPiece(ids[i], unparseSpecial, bytes);
            if (removeSpace && bytes.Count > start && bytes[start] == (byte)' ') bytes.RemoveAt(start);
            removeSpace = false;
        }
        var text = bytes.ToArray();
        int length = cleanSpaces ? CleanSpaces(text) : text.Length;
        return Encoding.UTF8.GetString(text, 0, length);
    }

    void AppendPiece(int id, bool special, List<byte> output)
    {
        if ((uint)id >= (uint)tokens.Length) throw new AgoraException($"{Path}: token id {id} is outside the vocabulary of {tokens.Length}");
        var a = attrs[id];
        string text = tokens[id];
        if ((a & (TokenAttributes.Unknown | TokenAttributes.Control)) != 0 && !special) return;
        if ((a & (TokenAttributes.Unknown | TokenAttributes.Control | TokenAttributes.UserDefined)) != 0)
            output.AddRange(Encoding.UTF8.GetBytes(text));
        else if ((a & TokenAttributes.Normal) != 0)
        {
            if (Settings.Spm || Settings.Pre!.EscapeWhitespace) output.AddRange(Encoding.UTF8.GetBytes(text.Replace('\u2581', ' ')));
            else AppendByteLevel(text, output);
        }
        else if ((a & TokenAttributes.Byte) != 0 && text.Length == 6 && text.StartsWith("<0x", StringComparison.Ordinal)
            && byte.TryParse(text.AsSpan(3, 2), System.Globalization.NumberStyles.HexNumber, null, out byte b))
            output.Add(b);
    }

    static void AppendByteLevel(string text, List<byte> output)
    {
        foreach (var rune in text.EnumerateRunes())
        {
            if (rune.Value < ByteLevelAlphabet.CharToByte.Length && ByteLevelAlphabet.CharToByte[rune.Value] >= 0)
            {
                output.Add((byte)ByteLevelAlphabet.CharToByte[rune.Value]);
                continue;
            }
            // llama.cpp spells characters outside the byte alphabet this way rather than failing.
            output.AddRange(Encoding.UTF8.GetBytes("[UNK_BYTE_0x" + Convert.ToHexString(Encoding.UTF8.GetBytes(rune.ToString())).ToLowerInvariant() + text + "]"));
        }
    }

    /// <summary>llama.cpp's clean_spaces passes over the decoded bytes; returns the new length.</summary>
    static int CleanSpaces(byte[] t)
    {
        int total = t.Length;
        // " ?", " !", " .", " ,": drop the space.
        int n = total > 0 ? 1 : 0;
        for (int i = 1; i < total; i++)
        {
            byte x = t[i];
            if (t[i - 1] == ' ' && x is (byte)'?' or (byte)'!' or (byte)'.' or (byte)',') n--;
            t[n++] = x;
        }
        // " ' ": drop both spaces around a lone apostrophe.
        total = n;
        n = total > 0 ? 1 : 0;
        for (int i = 1; i < total; i++)
        {
            byte x = t[i];
            if (x == '\'' && i + 1 < total && t[i - 1] == ' ' && t[i + 1] == ' ')
            {
                n--;
                t[++i] = 0;
            }
            t[n++] = x;
        }
        // " 's", " 'm", " 're", " 've": drop the space.
        total = n;
        n = total > 0 ? 1 : 0;
        for (int i = 1; i < total; i++)
        {
            byte x = t[i];
            if (t[i - 1] == ' ' && x == '\'' && i + 1 < total)
            {
                byte x1 = t[i + 1];
                if (x1 is (byte)'s' or (byte)'m') n--;
                else if (i + 2 < total && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e'))) n--;
            }
            t[n++] = x;
        }
        return n;
    }

    // ---- name-based detection (llama.cpp marks these control tokens whatever the file says) ----

    static readonly string[] EotNames =
        ["<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>", "<EOT>", "_<EOT>", "[EOT]",
            "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "<end_of_utterance>"];
    static readonly string[] FimNames =
        ["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uFF5Cfim\u2581begin\uFF5C>", "<PRE>", "\u2581<PRE>", "<|code_prefix|>", "<|prefix|>",
            "<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uFF5Cfim\u2581hole\uFF5C>", "<SUF>", "\u2581<SUF>", "<|code_suffix|>", "<|suffix|>",
            "<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uFF5Cfim\u2581end\uFF5C>", "<MID>", "\u2581<MID>", "<|code_middle|>", "<|middle|>",
            "<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", "<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>",
            "<|file_sep|>"];
    static readonly string[] EogNames =
        ["<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>", "<end_of_turn>", "<|endoftext|>",
            "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>",
            "<|tool_response>", "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", "[e~["];

    GgufSpecialTokens DetectByName(GgufSpecialTokens special, Dictionary<string, int> ids)
    {
        int? Find(string[] names)
        {
            int? found = null;
            foreach (var name in names)
                if (ids.TryGetValue(name, out int id)) { attrs[id] |= TokenAttributes.Control; found ??= id; }
            return found;
        }
        special = special with
        {
            Eot = special.Eot ?? Find(EotNames),
            Eom = special.Eom ?? Find(["<|eom_id|>"]),
        };
        Find(FimNames);
        foreach (var name in EogNames)
            if (ids.TryGetValue(name, out int id)) { endOfGeneration.Add(id); attrs[id] |= TokenAttributes.Control; }
        // gpt-oss: llama.cpp always renders these.
        foreach (var name in (string[])["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"])
            if (ids.TryGetValue(name, out int id)) attrs[id] = TokenAttributes.UserDefined;
        foreach (var id in new[] { special.Eos, special.Eot, special.Eom })
            if (id is { } i) endOfGeneration.Add(i);
        return special;
    }
}
