// How to build a tokenizer without a tokenizer.json (e.g. from GGUF metadata): fill a TokenizerParts and call
// Tokenizer.FromParts(parts, sourceName).
//   Tokens     — token strings by id, exactly as the vocabulary spells them.
//   Merges     — ranked BPE merge pairs (best first), as strings; or leave null and give Scores (SentencePiece
//                vocabularies): every split of a token into two vocabulary tokens becomes a merge, ranked by the
//                merged token's score, highest first (llama.cpp's SPM rule).
//   Kinds      — GGUF token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte). Control,
//                user-defined and unknown tokens become added tokens (matched verbatim in the input before anything
//                else; user-defined ones are not "special", so Decode(skipSpecialTokens) keeps them), unless
//                AddedTokens is given explicitly. Only normal tokens are merge results when merges come from scores.
//   Flavor     — ByteLevel: bytes spelled in GPT-2's alphabet; PreTokenizerPatterns are the llama.cpp-style regexes
//                applied in sequence (each splits every piece into matches and the text between them; null = GPT-2's).
//                SentencePiece: ' ' becomes '▁'; AddSpacePrefix puts '▁' before each stretch of text between added
//                tokens (llama.cpp add_space_prefix); ByteFallback spells unknown characters as <0xXX> tokens.
//   IgnoreMerges — a piece that is itself a token is taken whole (llama3).
//   BosId/EosId/EotId/PadId/UnkId, AddBos/AddEos — special ids; AddBos/AddEos decide what Encode(addSpecialTokens)
//                puts around the ids. UnkId is also the model's unknown token.
using System.Text;

namespace Agora.Tokenization;

/// <summary>
/// A Hugging Face-compatible BPE tokenizer: added tokens, normalizer, pre-tokenizer, BPE model, post-processor and
/// decoder, loaded from tokenizer.json (+ tokenizer_config.json) or built from <see cref="TokenizerParts"/>.
/// Thread-safe: each thread encodes with its own scratch memory and piece cache.
/// </summary>
public sealed partial class Tokenizer : ITokenizer, IChunkDecoder
{
    readonly string _source;
    readonly BpeModel _model;
    readonly string[] _idToToken;
    readonly bool[] _special;
    readonly AddedTokenMatcher _rawAdded, _normalizedAdded;
    readonly Normalizer? _normalizer;
    readonly PreTokenizer? _preTokenizer;
    readonly int[] _prefix, _suffix;
    readonly TokenDecoder[]? _decoders;
    readonly Dictionary<string, int> _addedIds = new();
    readonly ThreadLocal<EncodeScratch> _scratch = new(() => new EncodeScratch());

    sealed class EncodeScratch
    {
        public readonly PreTokenized Pieces = new();
        public readonly BpeScratch Bpe = new();
    }

    /// <summary>Where the tokenizer came from (a path, or the name given to <see cref="FromParts"/>).</summary>
    public string Source => _source;
    public string Description => _model.Options.ByteFallback ? "BPE with byte fallback (SentencePiece style)" : "byte-level BPE";
    public int VocabSize => _idToToken.Length;
    public int? BosId { get; }
    public int? EosId { get; }
    public int? EotId { get; }
    public int? PadId { get; }
    public int? UnkId { get; }
    /// <summary>Encode(addSpecialTokens: true) puts BOS first.</summary>
    public bool AddBos { get; }
    /// <summary>Encode(addSpecialTokens: true) puts EOS last.</summary>
    public bool AddEos { get; }
    /// <summary>The ids Encode(addSpecialTokens: true) puts before and after the text's ids.</summary>
    public IReadOnlyList<int> SpecialPrefix => _prefix;
    public IReadOnlyList<int> SpecialSuffix => _suffix;

    internal sealed record Pipeline(
        string Source, BpeModel Model, string[] IdToToken, IReadOnlyList<AddedToken> AddedTokens,
        Normalizer? Normalizer, PreTokenizer? PreTokenizer, int[] Prefix, int[] Suffix, TokenDecoder[]? Decoders,
        int? BosId, int? EosId, int? EotId, int? PadId, int? UnkId);

    internal Tokenizer(Pipeline p)
    {
        _source = p.Source;
        _model = p.Model;
        _idToToken = p.IdToToken;
        _special = new bool[_idToToken.Length];
        foreach (var t in p.AddedTokens)
        {
            if (t.Special) _special[t.Id] = true;
            _addedIds.TryAdd(t.Content, t.Id);
        }
        _rawAdded = new AddedTokenMatcher(p.AddedTokens.Where(t => !t.Normalized || p.Normalizer == null));
        _normalizedAdded = new AddedTokenMatcher(p.AddedTokens.Where(t => t.Normalized && p.Normalizer != null));
        _normalizer = p.Normalizer;
        _preTokenizer = p.PreTokenizer;
        _prefix = p.Prefix;
        _suffix = p.Suffix;
        _decoders = p.Decoders;
        (BosId, EosId, EotId, PadId, UnkId) = (p.BosId, p.EosId, p.EotId, p.PadId, p.UnkId);
        AddBos = BosId is { } b && _prefix.Length > 0 && _prefix[0] == b;
        AddEos = EosId is { } e && _suffix.Length > 0 && _suffix[^1] == e;
    }

    /// <summary>The ids of <paramref name="text"/>; with <paramref name="addSpecialTokens"/> also what the
    /// post-processor adds (BOS, EOS…).</summary>
    public int[] Encode(string text, bool addSpecialTokens = true)
    {
        var ids = new List<int>(text.Length / 3 + 4);
        Encode(text, ids, addSpecialTokens);
        return ids.ToArray();
    }

    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="output"/> (no other allocation once the
    /// pieces are cached, when the tokenizer has no normalizer).</summary>
    public void Encode(string text, List<int> output, bool addSpecialTokens = true)
    {
        try
        {
            EncodeAll(text, output, addSpecialTokens);
        }
        catch (System.Text.RegularExpressions.RegexMatchTimeoutException e)
        {
            throw OnigurumaRegex.TooSlow(_source, e);
        }
    }

    void EncodeAll(string text, List<int> output, bool addSpecialTokens)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (addSpecialTokens) output.AddRange(_prefix);
        var s = _scratch.Value!;
        int at = 0;
        while (at < text.Length)
        {
            bool found = _rawAdded.Next(text, at, out var token, out int start, out int end);
            if (start > at) EncodeSegment(text, at, start - at, s, output);
            if (!found) break;
            output.Add(token.Id);
            at = end;
        }
        if (addSpecialTokens) output.AddRange(_suffix);
    }

    void EncodeSegment(string text, int start, int length, EncodeScratch s, List<int> output)
    {
        if (_normalizer == null)
        {
            ModelPieces(text, start, length, start == 0, s, output);
            return;
        }
        string normalized = _normalizer.Normalize(text.Substring(start, length));
        int at = 0;
        while (at < normalized.Length)
        {
            bool found = _normalizedAdded.Next(normalized, at, out var token, out int ts, out int te);
            if (ts > at) ModelPieces(normalized, at, ts - at, start == 0 && at == 0, s, output);
            if (!found) break;
            output.Add(token.Id);
            at = te;
        }
    }

    void ModelPieces(string text, int start, int length, bool atInputStart, EncodeScratch s, List<int> output)
    {
        var p = s.Pieces;
        p.Reset(text, start, length, atInputStart);
        _preTokenizer?.Apply(p);
        for (int i = 0; i < p.Pieces.Count; i++) _model.Encode(p[i], p.ByteLevel, output, s.Bpe);
    }

    /// <summary>The vocabulary's own spelling of a token ("Ġworld", "▁world", "&lt;0x0A&gt;", "&lt;|eot_id|&gt;").</summary>
    public string TokenText(int id)
    {
        CheckId(id);
        return _idToToken[id];
    }

    /// <summary>The id of a token spelled exactly so, or null.</summary>
    public int? TokenId(string tokenText) => _model.TryGetId(tokenText, out var id) ? id : _addedIds.TryGetValue(tokenText, out id) ? id : null;

    /// <summary>True for added tokens marked special (BOS, EOS, chat markers…): the ones Decode can skip.</summary>
    public bool IsSpecial(int id) => (uint)id < (uint)_special.Length && _special[id];

    void CheckId(int id)
    {
        if ((uint)id >= (uint)_idToToken.Length)
            throw new AgoraException($"token id {id} is out of range: the vocabulary of {_source} has {_idToToken.Length} tokens");
    }

    public string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false) => DecodeChunk(ids, skipSpecialTokens, atStart: true, out _);

    /// <summary>Decodes <paramref name="ids"/> as the continuation of already decoded text when
    /// <paramref name="atStart"/> is false; <paramref name="tokenCount"/> says how many tokens reached the decoder.</summary>
    public bool IsEndOfGeneration(int id) => id == EosId || id == EotId;

    string IChunkDecoder.DecodeChunk(ReadOnlySpan<int> ids, bool skipSpecialTokens, bool atStart, out int tokenCount) =>
        DecodeChunk(ids, skipSpecialTokens, atStart, out tokenCount);

    internal string DecodeChunk(ReadOnlySpan<int> ids, bool skipSpecialTokens, bool atStart, out int tokenCount)
    {
        var tokens = new List<string>(ids.Length);
        foreach (int id in ids)
        {
            CheckId(id);
            if (skipSpecialTokens && _special[id]) continue;
            tokens.Add(_idToToken[id]);
        }
        tokenCount = tokens.Count;
        if (_decoders == null)
            return atStart || tokens.Count == 0 ? string.Join(' ', tokens) : " " + string.Join(' ', tokens);
        bool fused = false;
        foreach (var d in _decoders)
        {
            d.Decode(tokens, atStart, fused);
            fused |= d.Fuses;
        }
        return string.Concat(tokens);
    }

    /// <summary>A decoder for generated ids one at a time, giving out only complete characters.</summary>
    public StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false) => new(this, skipSpecialTokens);
}
