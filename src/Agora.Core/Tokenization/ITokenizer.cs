namespace Agora.Tokenization;

/// <summary>
/// What the rest of Agora needs from a tokenizer, whichever file it was built from: a Hugging Face
/// tokenizer.json (<see cref="Tokenizer"/>) or GGUF vocabulary metadata (<see cref="Gguf.GgufTokenizer"/>, which
/// follows llama.cpp). Encoding always recognises special tokens written in the text, as chat prompts need.
/// </summary>
public interface ITokenizer
{
    /// <summary>The file the tokenizer came from.</summary>
    string Source { get; }
    /// <summary>The kind of tokenizer in a few words, e.g. "byte-level BPE (tokenizer.json)".</summary>
    string Description { get; }
    int VocabSize { get; }
    int? BosId { get; }
    int? EosId { get; }
    int? EotId { get; }
    int? PadId { get; }
    /// <summary>Encode(addSpecialTokens: true) puts BOS first.</summary>
    bool AddBos { get; }
    /// <summary>Encode(addSpecialTokens: true) puts EOS last.</summary>
    bool AddEos { get; }

    int[] Encode(string text, bool addSpecialTokens = true);
    /// <summary>Appends the ids of <paramref name="text"/> to <paramref name="output"/>.</summary>
    void Encode(string text, List<int> output, bool addSpecialTokens = true);
    string Decode(ReadOnlySpan<int> ids, bool skipSpecialTokens = false);
    /// <summary>The vocabulary's own spelling of a token ("Ġworld", "▁world", "&lt;0x0A&gt;").</summary>
    string TokenText(int id);
    bool IsSpecial(int id);
    /// <summary>Whether generation stops at this token (EOS, EOT and their kin).</summary>
    bool IsEndOfGeneration(int id);
    /// <summary>A decoder for generated ids one at a time, giving out only complete characters.</summary>
    StreamingDecoder CreateStreamingDecoder(bool skipSpecialTokens = false);
}

/// <summary>The decoding step <see cref="StreamingDecoder"/> drives: ids continuing earlier text.</summary>
internal interface IChunkDecoder
{
    /// <summary>
    /// Decodes <paramref name="ids"/> as the continuation of already decoded text when <paramref name="atStart"/>
    /// is false; <paramref name="tokenCount"/> says how many tokens reached the decoder. Throws on an unknown id.
    /// </summary>
    string DecodeChunk(ReadOnlySpan<int> ids, bool skipSpecialTokens, bool atStart, out int tokenCount);
}
