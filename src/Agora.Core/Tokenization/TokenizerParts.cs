namespace Agora.Tokenization;

/// <summary>How a vocabulary spells text.</summary>
public enum TokenizerFlavor
{
    /// <summary>GPT-2 style: every UTF-8 byte is one character of a 256-char alphabet ('Ġ' is space); GPT-2/llama3/qwen.</summary>
    ByteLevel,
    /// <summary>SentencePiece style: text as is with ' ' spelled '▁', unknown characters as "&lt;0xXX&gt;" byte tokens
    /// (with byte fallback); llama2, gemma, mistral.</summary>
    SentencePiece,
}

/// <summary>
/// The pieces a tokenizer is made of, for building one without a tokenizer.json (from GGUF metadata, or in tests).
/// See the comment at the top of Tokenizer.cs for how each piece is used.
/// </summary>
public sealed class TokenizerParts
{
    /// <summary>Token strings by id, as the vocabulary spells them ("Ġworld", "▁world", "&lt;0x0A&gt;").</summary>
    public required IReadOnlyList<string> Tokens { get; init; }
    /// <summary>BPE merges, best first. When null, merges are derived from <see cref="Scores"/>.</summary>
    public IReadOnlyList<(string Left, string Right)>? Merges { get; init; }
    /// <summary>SentencePiece scores by id (higher merges first); used only when <see cref="Merges"/> is null.</summary>
    public IReadOnlyList<float>? Scores { get; init; }
    /// <summary>GGUF token types by id; null means all normal.</summary>
    public IReadOnlyList<TokenKind>? Kinds { get; init; }
    public TokenizerFlavor Flavor { get; init; } = TokenizerFlavor.ByteLevel;
    /// <summary>SentencePiece: characters missing from the vocabulary become their "&lt;0xXX&gt;" byte tokens.</summary>
    public bool ByteFallback { get; init; }
    /// <summary>SentencePiece: put '▁' in front of each stretch of text between special tokens (llama.cpp's
    /// add_space_prefix; Hugging Face's legacy llama behaviour); Decode removes it from the start again.</summary>
    public bool AddSpacePrefix { get; init; }
    /// <summary>Byte-level: the pre-tokenizer regexes (Oniguruma syntax), applied in sequence; each splits every
    /// piece into its matches and the text between them. Null: GPT-2's pattern. Empty: no split.</summary>
    public IReadOnlyList<string>? PreTokenizerPatterns { get; init; }
    /// <summary>A token whose whole text is in the vocabulary is taken as is, before any merge (llama3).</summary>
    public bool IgnoreMerges { get; init; }
    /// <summary>Tokens matched verbatim before anything else. Null: every Control, UserDefined and Unknown token of
    /// <see cref="Kinds"/> (UserDefined ones not special).</summary>
    public IReadOnlyList<AddedToken>? AddedTokens { get; init; }
    public int? BosId { get; init; }
    public int? EosId { get; init; }
    public int? EotId { get; init; }
    public int? PadId { get; init; }
    public int? UnkId { get; init; }
    public bool AddBos { get; init; }
    public bool AddEos { get; init; }
}
