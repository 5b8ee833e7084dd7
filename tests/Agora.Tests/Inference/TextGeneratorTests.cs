using Agora.Inference.Generation;
using Agora.Inference.Sampling;
using Agora.Tests.Tokenization;
using Agora.Tokenization;

namespace Agora.Tests.Inference;

/// <summary>The generator over a scripted fake model and the fixtures' real byte-level BPE tokenizer (vocab 512).</summary>
public class TextGeneratorTests
{
    const int Vocab = 512;
    static ITokenizer Tok => TokenizerFixtures.Model("llama-a");
    static readonly GenerationOptions Greedy = new() { Sampling = SamplerOptions.Greedy };
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A generator whose model, after the text prompt "The", says <paramref name="script"/>.</summary>
    static (TextGenerator Generator, FakeSession Session, int[] Prompt) Scripted(int[] script, int context = 100)
    {
        var generator0 = new TextGenerator(new FakeSession(Vocab, context, (_, _) => { }), Tok);
        var prompt = generator0.EncodePrompt("The");
        var session = FakeSession.Scripted(Vocab, context, prompt.Length, script);
        return (new TextGenerator(session, Tok), session, prompt);
    }

    static int[] Ids(string text) => Tok.Encode(text, addSpecialTokens: false);

    static async Task<(List<string> Pieces, GenerationResult Result)> Run(TextGenerator generator, string prompt, GenerationOptions options)
    {
        var pieces = new List<string>();
        var stream = generator.GenerateAsync(prompt, options, Ct);
        await foreach (var piece in stream) pieces.Add(piece);
        return (pieces, stream.Result);
    }

    [Fact]
    public async Task Stops_at_max_tokens_after_one_prefill_and_single_token_steps()
    {
        var script = Ids(" the cat sat on the mat");
        var (generator, session, prompt) = Scripted(script);
        var (pieces, result) = await Run(generator, "The", Greedy with { MaxTokens = 4 });
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Equal(script[..4], result.TokenIds);
        Assert.Equal(Tok.Decode(script[..4]), string.Concat(pieces));
        Assert.Equal(result.Text, string.Concat(pieces));
        Assert.Equal(0, prompt[0]); // BOS, as the tokenizer asks
        Assert.Equal([prompt.Length, 1, 1, 1], session.Calls);
        Assert.Equal(prompt, result.PromptIds);
        Assert.Equal(prompt.Length, result.PromptTokensEvaluated);
    }

    [Fact]
    public async Task Stops_at_the_tokenizers_end_token_and_at_extra_end_ids_without_showing_them()
    {
        int[] script = [.. Ids(" the cat"), 2, .. Ids(" sat")];
        var (generator, _, _) = Scripted(script);
        var (pieces, result) = await Run(generator, "The", Greedy);
        Assert.Equal(StopReason.EndOfGeneration, result.StopReason);
        Assert.Equal(script[..4], result.TokenIds);
        Assert.Equal(" the cat", string.Concat(pieces));

        (generator, _, _) = Scripted([.. Ids(" the cat"), 1, 5]);
        (pieces, result) = await Run(generator, "The", Greedy with { EndOfGenerationIds = [1] });
        Assert.Equal(StopReason.EndOfGeneration, result.StopReason);
        Assert.Equal(" the cat", string.Concat(pieces));
    }

    [Fact]
    public async Task A_stop_string_split_over_tokens_is_never_shown_nor_what_follows()
    {
        var script = Ids("Hello world, STOP here");
        var (generator, _, _) = Scripted(script);
        var (pieces, result) = await Run(generator, "The", Greedy with { StopStrings = ["STOP", "never"] });
        Assert.Equal(StopReason.StopString, result.StopReason);
        Assert.Equal("STOP", result.StopString);
        Assert.Equal("Hello world, ", string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('S'));
        // Generation stopped at the token that completed the stop string.
        Assert.Equal(script.Length - 2, result.TokenIds.Count);
    }

    [Fact]
    public async Task Text_held_as_a_possible_stop_string_comes_out_once_it_is_not_one()
    {
        var script = Ids("Hello world, STOP here");
        var (generator, _, _) = Scripted(script);
        var (pieces, result) = await Run(generator, "The", Greedy with { StopStrings = ["STOPPED", "here!"], MaxTokens = script.Length });
        Assert.Equal(StopReason.MaxTokens, result.StopReason);
        Assert.Equal("Hello world, STOP here", string.Concat(pieces));
        // "STOP" waited for " " to rule out "STOPPED"; "here" was held to the end in case "!" followed.
        Assert.Contains(pieces, p => p.StartsWith("STOP "));
        Assert.Equal("here", pieces[^1]);
    }

    [Fact]
    public async Task A_stop_string_may_begin_in_held_text_and_end_in_a_later_piece()
    {
        var script = Ids("Hello world, STOP here");
        var (generator, _, _) = Scripted(script);
        var (pieces, _) = await Run(generator, "The", Greedy with { StopStrings = ["P he"] });
        Assert.Equal("Hello world, STO", string.Concat(pieces));
    }

    [Fact]
    public async Task A_character_split_over_byte_tokens_comes_out_whole()
    {
        var script = Ids("a🦙b");
        Assert.True(script.Length >= 5, "the llama should take several byte tokens");
        var (generator, _, _) = Scripted(script);
        var (pieces, _) = await Run(generator, "The", Greedy with { MaxTokens = script.Length });
        Assert.Equal("a🦙b", string.Concat(pieces));
        Assert.Contains("🦙", pieces);
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD'));
    }

    [Fact]
    public async Task An_unfinished_character_at_the_end_shows_as_decode_shows_it()
    {
        var script = Ids("a🦙b")[..3];
        var (generator, _, _) = Scripted(script);
        var (pieces, _) = await Run(generator, "The", Greedy with { MaxTokens = 3 });
        Assert.Equal(Tok.Decode(script), string.Concat(pieces));
    }

    [Fact]
    public async Task Ids_beyond_the_tokenizer_in_a_padded_model_vocabulary_show_as_nothing()
    {
        int[] script = [.. Ids(" the"), 600, .. Ids(" cat")];
        var prompt = Tok.Encode("The");
        var generator = new TextGenerator(FakeSession.Scripted(640, 100, prompt.Length, script), Tok);
        var result = await generator.GenerateTextAsync("The", Greedy with { MaxTokens = script.Length }, Ct);
        Assert.Equal(" the cat", result.Text);
        Assert.Equal(script, result.TokenIds);
    }

    [Fact]
    public async Task Cancellation_stops_between_tokens_and_is_reported()
    {
        var script = Ids(" the cat sat on the mat");
        var (generator, session, prompt) = Scripted(script);
        using var cts = new CancellationTokenSource();
        var stream = generator.GenerateAsync("The", Greedy, cts.Token);
        var pieces = new List<string>();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var piece in stream)
            {
                pieces.Add(piece);
                cts.Cancel();
            }
        });
        Assert.Single(pieces);
        Assert.Equal(StopReason.Cancelled, stream.Result.StopReason);
        Assert.Equal(prompt.Length + 1, session.Position);
    }

    [Fact]
    public async Task Cancellation_through_WithCancellation_works_too()
    {
        var (generator, _, _) = Scripted(Ids(" the cat sat on the mat"));
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        var stream = generator.GenerateAsync("The", Greedy, Ct);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
        {
            await foreach (var _ in stream.WithCancellation(cts.Token)) { }
        });
        Assert.Equal(StopReason.Cancelled, stream.Result.StopReason);
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_refused_before_any_work()
    {
        var session = FakeSession.Hashed(Vocab, 8);
        var generator = new TextGenerator(session, Tok);
        var error = Assert.Throws<AgoraException>(() => generator.GenerateAsync(Enumerable.Range(3, 9).ToArray(), Greedy, Ct));
        Assert.Contains("9 tokens", error.Message);
        Assert.Contains("context of 8", error.Message);
        Assert.Empty(session.Calls);
        Assert.Throws<AgoraException>(() => generator.GenerateAsync(Array.Empty<int>(), Greedy, Ct));
        Assert.Throws<AgoraException>(() => generator.GenerateAsync([3, Vocab], Greedy, Ct));
        Assert.Throws<AgoraException>(() => generator.GenerateAsync("x", Greedy with { MaxTokens = 0 }, Ct));
        Assert.Throws<AgoraException>(() => generator.GenerateAsync("x", Greedy with { StopStrings = [""] }, Ct));
        Assert.Throws<AgoraException>(() => generator.GenerateAsync("x", new GenerationOptions { Sampling = new() { TopP = 2 } }, Ct));
    }

    [Fact]
    public async Task Generation_stops_when_the_context_is_full()
    {
        var session = FakeSession.Hashed(Vocab, 10);
        var generator = new TextGenerator(session, Tok);
        var stream = generator.GenerateAsync(Enumerable.Range(3, 8).ToArray(), Greedy with { MaxTokens = 50 }, Ct);
        await foreach (var _ in stream) { }
        Assert.Equal(StopReason.ContextFull, stream.Result.StopReason);
        // 8 prompt tokens + 2 fed back fill the 10 positions; the third token is sampled from the last logits.
        Assert.Equal(3, stream.Result.TokenIds.Count);
        Assert.Equal(10, session.Position);
    }

    [Fact]
    public async Task Same_seed_same_text_and_the_seed_is_reported()
    {
        async Task<GenerationResult> Sample(ulong? seed)
        {
            var generator = new TextGenerator(FakeSession.Hashed(Vocab, 200), Tok);
            return await generator.GenerateTextAsync("The", new GenerationOptions
            {
                MaxTokens = 30,
                Sampling = new SamplerOptions { Temperature = 1.5, TopK = 100, Seed = seed },
                EndOfGenerationIds = [],
            }, Ct);
        }
        var a = await Sample(5);
        var b = await Sample(5);
        var c = await Sample(6);
        Assert.Equal(a.TokenIds, b.TokenIds);
        Assert.Equal(a.Text, b.Text);
        Assert.NotEqual(a.TokenIds, c.TokenIds);
        Assert.Equal(5UL, a.Seed);
        var unseeded = await Sample(null);
        var again = await Sample(unseeded.Seed);
        Assert.Equal(unseeded.TokenIds, again.TokenIds);
    }

    [Fact]
    public async Task A_prompt_extending_the_last_sequence_reuses_the_cached_start()
    {
        var session = FakeSession.Hashed(Vocab, 200);
        var generator = new TextGenerator(session, Tok);
        var first = await generator.GenerateTextAsync("Hello world", Greedy with { MaxTokens = 3, EndOfGenerationIds = [] },
            Ct);
        session.Calls.Clear();
        int[] next = [.. first.PromptIds, .. first.TokenIds, .. Ids(" again")];
        var second = generator.GenerateAsync(next, Greedy with { MaxTokens = 2 }, Ct);
        await foreach (var _ in second) { }
        // All but the last generated token were in the cache already.
        int cached = first.PromptIds.Count + first.TokenIds.Count - 1;
        Assert.Equal(next.Length - cached, second.Result.PromptTokensEvaluated);
        Assert.Equal(next.Length - cached, session.Calls[0]);
        Assert.Equal(next.Concat(second.Result.TokenIds.Take(1)), session.Tokens);

        // The same outcome as a fresh session: reuse changes nothing but the work.
        var fresh = new TextGenerator(FakeSession.Hashed(Vocab, 200), Tok).GenerateAsync(next, Greedy with { MaxTokens = 2 }, Ct);
        await foreach (var _ in fresh) { }
        Assert.Equal(fresh.Result.TokenIds, second.Result.TokenIds);

        // The very same prompt again still runs its last token, for the logits.
        var repeat = generator.GenerateAsync(next, Greedy with { MaxTokens = 1 }, Ct);
        await foreach (var _ in repeat) { }
        Assert.Equal(1, repeat.Result.PromptTokensEvaluated);
    }

    [Fact]
    public async Task Result_is_there_only_at_the_end_and_a_stream_runs_once()
    {
        var (generator, _, _) = Scripted(Ids(" the cat"));
        var stream = generator.GenerateAsync("The", Greedy with { MaxTokens = 2 }, Ct);
        Assert.Throws<InvalidOperationException>(() => stream.Result);
        await foreach (var _ in stream) { }
        Assert.Equal(StopReason.MaxTokens, stream.Result.StopReason);
        Assert.Throws<InvalidOperationException>(() => stream.GetAsyncEnumerator(Ct));
    }
}
