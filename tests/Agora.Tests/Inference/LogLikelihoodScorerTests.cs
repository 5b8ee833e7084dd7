using System.Text.Json.Nodes;
using Agora.Inference.Scoring;
using Agora.Tests.Tokenization;

namespace Agora.Tests.Inference;

public class LogLikelihoodScorerTests
{
    const int Vocab = 512;

    /// <summary>log softmax(row)[id], plainly in double.</summary>
    static double LogSoftmax(ReadOnlySpan<float> row, int id)
    {
        double max = double.NegativeInfinity;
        foreach (float v in row) max = Math.Max(max, v);
        double sum = 0;
        foreach (float v in row) sum += Math.Exp(v - max);
        return row[id] - max - Math.Log(sum);
    }

    /// <summary>The logits FakeSession.Hashed gives after <paramref name="sequence"/>.</summary>
    static float[] HashedLogits(IReadOnlyList<int> sequence)
    {
        var session = FakeSession.Hashed(Vocab, 1000);
        var logits = new float[Vocab];
        session.Evaluate(sequence.ToArray(), logits);
        return logits;
    }

    [Fact]
    public void Each_continuation_token_gets_the_log_softmax_of_the_position_before_it()
    {
        var session = FakeSession.Hashed(Vocab, 100);
        int[] context = [0, 17, 99, 4], continuation = [250, 3, 3, 511];
        var score = new LogLikelihoodScorer(session).Score(context, continuation);
        Assert.Equal(continuation, score.Tokens.Select(t => t.Id));
        for (int j = 0; j < continuation.Length; j++)
        {
            var logits = HashedLogits([.. context, .. continuation[..j]]);
            Assert.Equal(LogSoftmax(logits, continuation[j]), score.Tokens[j].LogProb, 12);
            Assert.Equal(Array.IndexOf(logits, logits.Max()) == continuation[j], score.Tokens[j].IsGreedy);
        }
        Assert.Equal(score.Tokens.Sum(t => t.LogProb), score.TotalLogProb);
        // One pass over the context and all continuation tokens but the last.
        Assert.Equal([context.Length + continuation.Length - 1], session.Calls);
    }

    [Fact]
    public void Greedy_flags_follow_the_argmax()
    {
        var session = FakeSession.Hashed(Vocab, 100);
        int[] context = [5, 6];
        int best = Array.IndexOf(HashedLogits(context), HashedLogits(context).Max());
        int second = Array.IndexOf(HashedLogits([.. context, best]), HashedLogits([.. context, best]).Max());
        var greedy = new LogLikelihoodScorer(session).Score(context, [best, second]);
        Assert.True(greedy.IsGreedy);
        Assert.All(greedy.Tokens, t => Assert.True(t.IsGreedy));
        var notGreedy = new LogLikelihoodScorer(session).Score(context, [best, (second + 1) % Vocab]);
        Assert.False(notGreedy.IsGreedy);
        Assert.True(notGreedy.Tokens[0].IsGreedy);
    }

    [Fact]
    public void Long_requests_in_slices_score_as_one_pass()
    {
        int[] context = [.. Enumerable.Range(1, 9)], continuation = [.. Enumerable.Range(40, 7)];
        var whole = new LogLikelihoodScorer(FakeSession.Hashed(Vocab, 100)).Score(context, continuation);
        var session = FakeSession.Hashed(Vocab, 100);
        var sliced = new LogLikelihoodScorer(session) { MaxLogitValues = 3 * Vocab }.Score(context, continuation);
        Assert.Equal(whole.Tokens, sliced.Tokens);
        Assert.Equal([8, 3, 3, 1], session.Calls);
    }

    [Fact]
    public void Json_has_the_cli_shape()
    {
        var score = new LogLikelihoodScorer(FakeSession.Hashed(Vocab, 100)).Score([1, 2], [3, 4]);
        var json = JsonNode.Parse(score.ToJson())!;
        Assert.Equal(["tokens", "total_logprob", "is_greedy"], json.AsObject().Select(p => p.Key));
        var tokens = json["tokens"]!.AsArray();
        Assert.Equal(2, tokens.Count);
        Assert.Equal(["id", "logprob", "is_greedy"], tokens[0]!.AsObject().Select(p => p.Key));
        Assert.Equal(4, (int)tokens[1]!["id"]!);
        Assert.Equal(score.Tokens[1].LogProb, (double)tokens[1]!["logprob"]!);
        Assert.Equal(score.TotalLogProb, (double)json["total_logprob"]!);
        Assert.Equal(score.IsGreedy, (bool)json["is_greedy"]!);
    }

    [Fact]
    public void An_impossible_token_scores_minus_infinity_written_as_python_does()
    {
        var session = new FakeSession(4, 10, (_, logits) => { logits.Fill(1); logits[3] = float.NegativeInfinity; });
        var score = new LogLikelihoodScorer(session).Score([0], [3]);
        Assert.Equal(double.NegativeInfinity, score.TotalLogProb);
        Assert.Contains("\"logprob\":-Infinity", score.ToJson());
    }

    [Fact]
    public void Text_is_split_as_lm_eval_does()
    {
        var tok = TokenizerFixtures.Model("llama-a");
        var scorer = new LogLikelihoodScorer(FakeSession.Hashed(Vocab, 100), tok);
        // The context's trailing space moves to the continuation, whose ids come from encoding the whole.
        var (context, continuation) = scorer.Encode("The quick ", "brown fox");
        Assert.Equal([0, .. tok.Encode("The quick", false)], context);
        var whole = tok.Encode("The quick brown fox", false);
        Assert.Equal(whole[(context.Length - 1)..], continuation);
        Assert.Equal(tok.Encode(" brown fox", false), continuation);
        // An empty (or blank) context is BOS alone.
        var (empty, afterEmpty) = scorer.Encode("", "Hi");
        Assert.Equal([0], empty);
        Assert.Equal(tok.Encode("Hi", false), afterEmpty);
        var (blank, afterBlank) = scorer.Encode("  ", "Hi");
        Assert.Equal([0], blank);
        Assert.Equal(tok.Encode("  Hi", false), afterBlank);
        // A context alone, for continuation ids.
        Assert.Equal(context, scorer.EncodeContext("The quick"));
        Assert.Equal([0], scorer.EncodeContext(""));
        // Text and its ids score the same.
        Assert.Equal(scorer.Score(context, continuation).Tokens, scorer.Score("The quick ", "brown fox").Tokens);
    }

    [Fact]
    public void Bad_requests_get_one_clear_error()
    {
        var session = FakeSession.Hashed(Vocab, 6);
        var scorer = new LogLikelihoodScorer(session);
        Assert.Contains("continuation", Assert.Throws<AgoraException>(() => scorer.Score([1, 2], [])).Message);
        Assert.Contains("context", Assert.Throws<AgoraException>(() => scorer.Score([], [1])).Message);
        Assert.Contains("512", Assert.Throws<AgoraException>(() => scorer.Score([1], [512])).Message);
        Assert.Contains("context of 6", Assert.Throws<AgoraException>(() => scorer.Score([1, 2, 3, 4], [5, 6, 7, 8])).Message);
        Assert.Empty(session.Calls);
        scorer.Score([1, 2, 3, 4], [5, 6, 7]); // 7 tokens need only 6 positions: the last is never fed
        Assert.Throws<InvalidOperationException>(() => scorer.Encode("a", "b"));
    }
}
