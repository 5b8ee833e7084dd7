namespace Agora.Tokenization;

/// <summary>The kind of a vocabulary entry, numbered as GGUF's <c>tokenizer.ggml.token_type</c> numbers them.</summary>
public enum TokenKind
{
    Normal = 1,
    Unknown = 2,
    Control = 3,
    UserDefined = 4,
    Unused = 5,
    Byte = 6,
}
