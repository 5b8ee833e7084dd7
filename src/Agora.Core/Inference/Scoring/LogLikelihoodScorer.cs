using Agora.Inference.Generation;
using Agora.Inference.Sampling;
using Agora.Tokenization;

namespace Agora.Inference.Scoring;

/// <summary>
/// Scores a continuation given a context as lm-evaluation-harness's <c>loglikelihood</c> requests do: context and
/// continuation ids run through the model in one pass (the last continuation token is not fed: nothing reads its
/// logits), and each continuation token gets log-softmax(logits at the position before it)[token], computed in
/// float64 over the float32 logits, and whether it was the argmax (the lowest id among equal maxima, as
/// torch.argmax). The scorer rewinds the session to empty before each request.
/// </summary>
public sealed class LogLikelihoodScorer
{
    readonly ITokenSession _session;
    readonly ITokenizer? _tokenizer;

    public LogLikelihoodScorer(ITokenSession session, ITokenizer? tokenizer = null)
    {
        _session = session ?? throw new ArgumentNullException(nameof(session));
        _tokenizer = tokenizer;
    }

    /// <summary>
    /// The most logits one pass may write (64 MiB of float32); a longer request runs its context first and its
    /// continuation in slices, which agrees with one pass to rounding.
    /// </summary>
    internal int MaxLogitValues { get; init; } = 16 << 20;

    /// <summary>Tokenizes as lm-eval does (see <see cref="Encode"/>), then scores.</summary>
    public ContinuationScore Score(string context, string continuation)
    {
        var (contextIds, continuationIds) = Encode(context, continuation);
        return Score(contextIds, continuationIds);
    }

    /// <summary>
    /// lm-eval's <c>_encode_pair</c> for a causal model: whitespace ending the context moves to the front of the
    /// continuation; the context is encoded alone and together with the continuation, and the continuation's ids
    /// are those of the whole beyond the context's length (so they are the tokens the model would really see).
    /// The context gets BOS first when the tokenizer asks for it; the continuation never gets special tokens. An
    /// empty context (also one that was only whitespace, where lm-eval would be left with no ids) is BOS alone,
    /// or EOS when there is no BOS, as lm-eval's prefix token.
    /// </summary>
    public (int[] Context, int[] Continuation) Encode(string context, string continuation)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(continuation);
        int spaces = 0;
        while (spaces < context.Length && Templates.Py.IsSpace(context[^(spaces + 1)])) spaces++;
        continuation = context[^spaces..] + continuation;
        context = context[..^spaces];
        var contextIds = EncodeContext(context, out bool standIn);
        if (standIn) return (contextIds, Tokenizer.Encode(continuation, addSpecialTokens: false));
        var whole = PromptEncoding.Encode(Tokenizer, context + continuation, addBos: true);
        return (contextIds, whole.Count > contextIds.Length ? whole[contextIds.Length..].ToArray() : []);
    }

    /// <summary>
    /// A context on its own (for a continuation given as ids): BOS first when the tokenizer asks for it, no other
    /// special tokens; an empty one is lm-eval's prefix token, BOS, or EOS when there is no BOS.
    /// </summary>
    public int[] EncodeContext(string context) => EncodeContext(context ?? throw new ArgumentNullException(nameof(context)), out _);

    int[] EncodeContext(string context, out bool standIn)
    {
        var ids = context.Length == 0 ? [] : PromptEncoding.Encode(Tokenizer, context, addBos: true);
        standIn = ids.Count == 0;
        if (!standIn) return ids.ToArray();
        return [Tokenizer.BosId ?? Tokenizer.EosId
            ?? throw new AgoraException("the context is empty and the tokenizer has neither BOS nor EOS to stand for it: give a context")];
    }

    ITokenizer Tokenizer => _tokenizer ?? throw new InvalidOperationException("this scorer has no tokenizer: score ids instead");

    /// <summary>Python's str.isspace, which lm-eval's rstrip() uses: .NET's whitespace plus U+001C–U+001F.</summary>
    /// <summary>Scores continuation ids after context ids, both fed as given (no BOS is added).</summary>
    public ContinuationScore Score(IReadOnlyList<int> contextIds, IReadOnlyList<int> continuationIds)
    {
        ArgumentNullException.ThrowIfNull(contextIds);
        ArgumentNullException.ThrowIfNull(continuationIds);
        if (contextIds.Count == 0) throw new AgoraException("the context has no tokens: scoring needs at least one (e.g. BOS) before the continuation");
        if (continuationIds.Count == 0) throw new AgoraException("the continuation has no tokens: nothing to score");
        int vocab = _session.VocabSize;
        int[] input = [.. contextIds, .. continuationIds.Take(continuationIds.Count - 1)];
        foreach (int id in input.Append(continuationIds[^1]))
            if ((uint)id >= (uint)vocab) throw new AgoraException($"token id {id} is outside the model's vocabulary of {vocab}");
        if (input.Length > _session.ContextLength)
            throw new AgoraException($"context and continuation need {input.Length} positions, more than the model's context of {_session.ContextLength} " +
                "(lm-eval would cut the context from the left; Agora asks you to shorten it)");

        _session.Rewind(0);
        // Position first - 1 + j predicts continuation token j; the first position whose logits are read:
        int first = contextIds.Count - 1;
        int rowsPerPass = Math.Max(1, MaxLogitValues / vocab);
        var logits = new float[Math.Min(input.Length, rowsPerPass) * vocab];
        var tokens = new TokenScore[continuationIds.Count];
        int at = 0;
        if (input.Length > rowsPerPass && first > 0)
        {
            _session.Evaluate(input.AsSpan(0, first), logits.AsSpan(0, vocab));
            at = first;
        }
        while (at < input.Length)
        {
            int rows = Math.Min(rowsPerPass, input.Length - at);
            _session.Evaluate(input.AsSpan(at, rows), logits.AsSpan(0, rows * vocab));
            for (int r = Math.Max(0, first - at); r < rows; r++)
            {
                int j = at + r - first;
                tokens[j] = ScoreToken(logits.AsSpan(r * vocab, vocab), continuationIds[j]);
            }
            at += rows;
        }
        return new ContinuationScore(contextIds.ToArray(), tokens);
    }

    static TokenScore ScoreToken(ReadOnlySpan<float> logits, int id)
    {
        int best = Sampler.Argmax(logits);
        return new TokenScore(id, LogSoftmax(logits, logits[best], id), best == id);
    }

    /// <summary>log softmax(logits)[id] in float64, shifted by the maximum so no exponential overflows.</summary>
    static double LogSoftmax(ReadOnlySpan<float> logits, double max, int id)
    {
        double sum = 0;
        foreach (float v in logits) sum += Math.Exp(v - max);
        return logits[id] - max - Math.Log(sum);
    }
}
