using Agora.Inference;
using Agora.Formats.Checkpoint;
using Agora.Models;

namespace Agora.Tests.Models;

/// <summary>What a session promises: prefill and decode agree, rewinding forgets, limits are refused cleanly.</summary>
public class SessionTests
{
    [Theory]
    [InlineData("llama-a")]
    [InlineData("qwen2-a")]
    [InlineData("bloom-a")]
    public void PrefillThenDecodeEqualsAllAtOnce(string model)
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        var engine = TransformerModel.Load(checkpoint);
        var ids = ModelReference.Load(model).Prompts[2].Ids;
        int vocab = engine.VocabSize;
        var whole = ModelReference.AllLogits(engine.CreateSession(), ids);

        // A prefill of the first part (all positions), then the rest one token at a time (last position only).
        var session = engine.CreateSession();
        int split = ids.Length / 2;
        var stepwise = new float[whole.Length];
        session.Evaluate(ids.AsSpan(0, split), stepwise.AsSpan(0, split * vocab));
        for (int t = split; t < ids.Length; t++)
            session.Evaluate(ids.AsSpan(t, 1), stepwise.AsSpan(t * vocab, vocab));
        Assert.Equal(ids.Length, session.Position);
        Assert.True(ModelReference.RelativeError(stepwise, whole) < 1e-6);

        // Last-position logits of a prefill equal the last row of the all-positions logits.
        var last = new float[vocab];
        engine.CreateSession().Evaluate(ids, last);
        Assert.True(ModelReference.RelativeError(last, whole.AsSpan((ids.Length - 1) * vocab)) < 1e-6);
    }

    [Theory]
    [InlineData("llama-a")]
    [InlineData("bloom-a")]
    public void RewindGivesWhatAFreshSessionGives(string model)
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        var engine = TransformerModel.Load(checkpoint);
        var prompts = ModelReference.Load(model).Prompts;
        var first = prompts[0].Ids;
        var second = prompts[1].Ids;
        var session = engine.CreateSession();
        session.Evaluate(first, new float[engine.VocabSize]);

        // Keep the first 3 tokens, continue with another prompt's tail: as if the session had only seen those.
        session.Rewind(3);
        Assert.Equal(3, session.Position);
        int[] continued = [.. first[..3], .. second[3..]];
        var afterRewind = new float[second[3..].Length * engine.VocabSize];
        session.Evaluate(second[3..], afterRewind);
        var fresh = ModelReference.AllLogits(engine.CreateSession(), continued);
        Assert.Equal(afterRewind, fresh.AsSpan(3 * engine.VocabSize).ToArray());

        session.Rewind(0);
        Assert.Equal(0, session.Position);
        Assert.Equal(ModelReference.AllLogits(engine.CreateSession(), second), ModelReference.AllLogits(session, second));
        Assert.Throws<AgoraException>(() => session.Rewind(second.Length + 1));
        Assert.Throws<AgoraException>(() => session.Rewind(-1));
    }

    [Fact]
    public void ContextOverflowAndBadIdsAreRefusedLeavingTheSessionAsItWas()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var engine = TransformerModel.Load(checkpoint);
        var ids = ModelReference.Load("llama-a").Prompts[0].Ids;
        var session = engine.CreateSession(contextLength: ids.Length + 2);
        Assert.Equal(ids.Length + 2, session.ContextLength);
        Assert.Equal(512, engine.CreateSession().ContextLength);
        var logits = new float[engine.VocabSize];
        session.Evaluate(ids, logits);

        var overflow = Assert.Throws<AgoraException>(() => session.Evaluate([1, 2, 3], logits));
        Assert.Contains("context length", overflow.Message);
        var badId = Assert.Throws<AgoraException>(() => session.Evaluate([1, 512], logits));
        Assert.Contains("512", badId.Message);
        Assert.Throws<AgoraException>(() => session.Evaluate([-1], logits));
        Assert.Throws<AgoraException>(() => session.Evaluate([], logits));
        Assert.Throws<ArgumentException>(() => session.Evaluate([1, 2], new float[engine.VocabSize + 1]));
        Assert.Equal(ids.Length, session.Position);

        // The session still works, and exactly to its limit.
        session.Evaluate([7, 8], new float[2 * engine.VocabSize]);
        Assert.Equal(session.ContextLength, session.Position);
        Assert.Throws<AgoraException>(() => session.Evaluate([9], logits));
        var expected = ModelReference.AllLogits(engine.CreateSession(), [.. ids, 7, 8]);
        session.Rewind(ids.Length + 1);
        session.Evaluate([8], logits);
        Assert.Equal(expected.AsSpan((ids.Length + 1) * engine.VocabSize).ToArray(), logits);
    }

    [Theory]
    [InlineData("llama-a")]
    [InlineData("bloom-a")]
    public void PromptsLongerThanOnePassRunInPassesWithTheSameLogits(string model)
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        var engine = TransformerModel.Load(checkpoint);
        var random = new Random(3);
        var ids = Enumerable.Range(0, InferenceSession.MaxPassTokens + 40).Select(_ => random.Next(engine.VocabSize)).ToArray();
        int vocab = engine.VocabSize;

        // Two passes (all positions, then the last only) against a split the session runs as single passes.
        var whole = ModelReference.AllLogits(engine.CreateSession(ids.Length), ids);
        var split = engine.CreateSession(ids.Length);
        int first = ids.Length / 2;
        var parts = new float[whole.Length];
        split.Evaluate(ids.AsSpan(0, first), parts.AsSpan(0, first * vocab));
        split.Evaluate(ids.AsSpan(first), parts.AsSpan(first * vocab));
        Assert.True(ModelReference.RelativeError(whole, parts) < 1e-5);
        var last = new float[vocab];
        var session = engine.CreateSession(ids.Length);
        session.Evaluate(ids, last);
        Assert.Equal(ids.Length, session.Position);
        Assert.True(ModelReference.RelativeError(last, whole.AsSpan((ids.Length - 1) * vocab)) < 1e-5);
    }

    [Fact]
    public void SessionsOfOneModelAreIndependentAcrossThreads()
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "qwen2-a", "hf"));
        var engine = TransformerModel.Load(checkpoint);
        var prompts = ModelReference.Load("qwen2-a").Prompts;
        var expected = prompts.Select(p => ModelReference.Greedy(engine.CreateSession(), p.Ids, 8)).ToArray();
        var actual = new int[prompts.Count][];
        Parallel.For(0, prompts.Count, i => actual[i] = ModelReference.Greedy(engine.CreateSession(), prompts[i].Ids, 8));
        Assert.Equal(expected, actual);
    }
}

/// <summary>
/// Once a session is warm, a decode step allocates nothing (the matrix products run on a persistent worker pool).
/// </summary>
public class SessionAllocationTests
{
    [Theory]
    [InlineData("llama-a")]
    [InlineData("bloom-a")]
    public void DecodeStepsAllocateNothing(string model)
    {
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", model, "hf"));
        var engine = TransformerModel.Load(checkpoint);
        var session = engine.CreateSession(64);
        var logits = new float[engine.VocabSize];
        session.Evaluate(ModelReference.Load(model).Prompts[0].Ids, logits);
        // Warm up so tiered compilation settles and the cache reaches its final size.
        for (int i = 0; i < 20; i++) session.Evaluate([i + 3], logits);
        // The least of three passes: while a concurrent test holds the worker pool, this thread runs every chunk
        // itself and may grow a per-thread scratch buffer once, which is not a per-step allocation.
        long perStep = long.MaxValue;
        for (int pass = 0; pass < 3; pass++)
        {
            session.Rewind(16);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++) session.Evaluate([i + 3], logits);
            perStep = Math.Min(perStep, (GC.GetAllocatedBytesForCurrentThread() - before) / 20);
        }
        Assert.True(perStep == 0, $"{perStep} bytes allocated per decode step");
    }
}
