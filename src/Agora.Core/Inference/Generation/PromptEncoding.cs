using Agora.Tokenization;

namespace Agora.Inference.Generation;

/// <summary>How generation and scoring turn text into ids: no special tokens, except BOS first when asked for.</summary>
internal static class PromptEncoding
{
    /// <summary>
    /// The ids of <paramref name="text"/>, with BOS first when <paramref name="addBos"/> and the tokenizer wants
    /// it. Never EOS: a prompt or a context continues.
    /// </summary>
    public static List<int> Encode(ITokenizer tokenizer, string text, bool addBos)
    {
        var ids = new List<int>(text.Length / 3 + 2);
        if (addBos && tokenizer.AddBos && tokenizer.BosId is int bos) ids.Add(bos);
        tokenizer.Encode(text, ids, addSpecialTokens: false);
        return ids;
    }
}
