namespace Agora.Tokenization;

/// <summary>
/// A token matched verbatim in the input before normalization and pre-tokenization (Hugging Face "added token").
/// <see cref="Special"/> tokens are dropped by <c>Decode(skipSpecialTokens: true)</c>; <see cref="Normalized"/> ones
/// are matched in the normalized text instead of the raw text; <see cref="LStrip"/>/<see cref="RStrip"/> swallow
/// whitespace on that side; <see cref="SingleWord"/> refuses a match touching a word character.
/// </summary>
public sealed record AddedToken(string Content, int Id, bool Special = true, bool SingleWord = false,
    bool LStrip = false, bool RStrip = false, bool Normalized = false);
