namespace Agora.Tokenization;

public sealed partial class Tokenizer
{
    /// <summary>Builds a tokenizer from its parts (see the comment at the top of Tokenizer.cs);
    /// <paramref name="source"/> names it in error messages. Bad parts throw <see cref="AgoraFormatException"/>.</summary>
    public static Tokenizer FromParts(TokenizerParts parts, string source = "<tokenizer parts>")
    {
        Exception Fail(string problem) => new AgoraFormatException(source, problem);
        var tokens = parts.Tokens.ToArray();
        if (tokens.Length == 0) throw Fail("the vocabulary is empty");
        if (parts.Kinds != null && parts.Kinds.Count != tokens.Length)
            throw Fail($"{parts.Kinds.Count} token types for {tokens.Length} tokens");
        if (parts.Scores != null && parts.Scores.Count != tokens.Length)
            throw Fail($"{parts.Scores.Count} scores for {tokens.Length} tokens");
        foreach (var (name, id) in new[] { ("BOS", parts.BosId), ("EOS", parts.EosId), ("EOT", parts.EotId), ("PAD", parts.PadId), ("UNK", parts.UnkId) })
            if (id is { } v && (uint)v >= (uint)tokens.Length) throw Fail($"the {name} id {v} is outside the vocabulary of {tokens.Length} tokens");
        if (parts.AddBos && parts.BosId == null) throw Fail("BOS is to be added but there is no BOS token");
        if (parts.AddEos && parts.EosId == null) throw Fail("EOS is to be added but there is no EOS token");

        var kinds = parts.Kinds;
        var vocab = new Dictionary<string, int>(tokens.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            if (tokens[i] == null) throw Fail($"token {i} has no text");
            vocab.TryAdd(tokens[i], i);
        }

        var added = parts.AddedTokens?.ToList() ?? [];
        if (parts.AddedTokens == null && kinds != null)
            for (int i = 0; i < tokens.Length; i++)
                if (kinds[i] is TokenKind.Control or TokenKind.UserDefined or TokenKind.Unknown)
                    added.Add(new AddedToken(tokens[i], i, Special: kinds[i] != TokenKind.UserDefined));
        foreach (var t in added)
            if ((uint)t.Id >= (uint)tokens.Length) throw Fail($"added token \"{t.Content}\" has id {t.Id}, outside the vocabulary");

        var merges = parts.Merges?.Select(m => BpeMerge.Of(m.Left, m.Right)).ToList() ?? (parts.Scores != null
            ? BpeModel.MergesFromScores(tokens, parts.Scores, kinds == null ? null : id => kinds[id] == TokenKind.Normal)
            : []);
        bool spm = parts.Flavor == TokenizerFlavor.SentencePiece;
        var model = new BpeModel(vocab, merges, new BpeOptions
        {
            UnkToken = parts.UnkId is { } u ? tokens[u] : null,
            FuseUnk = spm,
            ByteFallback = spm && parts.ByteFallback,
            IgnoreMerges = parts.IgnoreMerges,
        }, Fail);

        Normalizer? normalizer = null;
        PreTokenizer? preTokenizer;
        TokenDecoder[] decoders;
        if (spm)
        {
            var space = new ReplaceNormalizer(TextPattern.Literal(" "), "\u2581");
            normalizer = parts.AddSpacePrefix ? new SequenceNormalizer([new PrependNormalizer("\u2581"), space]) : space;
            preTokenizer = null;
            var steps = new List<TokenDecoder> { new ReplaceDecoder(TextPattern.Literal("\u2581"), " "), new ByteFallbackDecoder(), new FuseDecoder() };
            if (parts.AddSpacePrefix) steps.Add(new StripDecoder(' ', 1, 0));
            decoders = steps.ToArray();
        }
        else
        {
            var steps = new List<PreTokenizer>();
            try
            {
                foreach (var pattern in parts.PreTokenizerPatterns ?? [])
                    steps.Add(new SplitPreTokenizer(SplitMatcher(pattern), SplitBehavior.Isolated, false));
            }
            catch (ArgumentException e) { throw Fail($"a pre-tokenizer regex does not compile: {e.Message}"); }
            steps.Add(new ByteLevelPreTokenizer(false, parts.PreTokenizerPatterns == null));
            preTokenizer = steps.Count == 1 ? steps[0] : new SequencePreTokenizer(steps);
            decoders = [new ByteLevelDecoder()];
        }

        return new Tokenizer(new Pipeline(source, model, tokens, added, normalizer, preTokenizer,
            parts.AddBos ? [parts.BosId!.Value] : [], parts.AddEos ? [parts.EosId!.Value] : [], decoders,
            parts.BosId, parts.EosId, parts.EotId, parts.PadId, parts.UnkId));
    }

    /// <summary>The matcher of a pre-tokenizer regex: the hand-written one for the well-known patterns.</summary>
    internal static IMatcher SplitMatcher(string pattern) =>
        (IMatcher?)Gpt2Splitter.For(pattern) ?? new TextPatternMatcher(TextPattern.FromRegex(pattern));
}
