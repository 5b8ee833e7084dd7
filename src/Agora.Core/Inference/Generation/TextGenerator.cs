using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Agora.Inference.Sampling;
using Agora.Tokenization;

namespace Agora.Inference.Generation;

/// <summary>
/// Generates text from a prompt over one <see cref="ITokenSession"/>: the prompt in one prefill pass, then one
/// decode step per token, streaming text pieces that are always whole characters. The generator owns the
/// session: it remembers what it fed it, so a prompt that starts like the previous sequence (a chat growing turn
/// by turn) reuses the cached start. One generation at a time.
/// <code>
/// var generator = new TextGenerator(session, tokenizer);
/// await foreach (var piece in generator.GenerateAsync("Once upon a time", new() { MaxTokens = 50 }, ct))
///     Console.Write(piece);
/// </code>
/// </summary>
public sealed class TextGenerator
{
    readonly ITokenSession _session;
    readonly ITokenizer _tokenizer;
    readonly float[] _logits;
    /// <summary>The tokens this generator has fed the session, in order.</summary>
    readonly List<int> _fed = new();
    int _running;

    public TextGenerator(ITokenSession session, ITokenizer tokenizer)
    {
        _session = session ?? throw new ArgumentNullException(nameof(session));
        _tokenizer = tokenizer ?? throw new ArgumentNullException(nameof(tokenizer));
        _logits = new float[session.VocabSize];
    }

    public ITokenizer Tokenizer => _tokenizer;

    /// <summary>
    /// Starts generating from <paramref name="prompt"/>, encoded without special tokens except BOS first when
    /// the tokenizer asks for it and <see cref="GenerationOptions.AddBos"/> allows. Bad options or a prompt
    /// that does not fit the context throw <see cref="AgoraException"/> here, before any work.
    /// </summary>
    public GenerationStream GenerateAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        options ??= new GenerationOptions();
        return GenerateAsync(EncodePrompt(prompt, options.AddBos), options, cancellationToken);
    }

    /// <summary>Starts generating from prompt ids, fed as given.</summary>
    public GenerationStream GenerateAsync(IReadOnlyList<int> promptIds, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(promptIds);
        options ??= new GenerationOptions();
        options.Validate();
        var prompt = promptIds.ToArray();
        if (prompt.Length == 0) throw new AgoraException("the prompt is empty: generation needs at least one token to start from");
        if (prompt.Length > _session.ContextLength)
            throw new AgoraException($"the prompt is {prompt.Length} tokens, longer than the model's context of {_session.ContextLength} tokens");
        foreach (int id in prompt)
            if ((uint)id >= (uint)_session.VocabSize)
                throw new AgoraException($"prompt token id {id} is outside the model's vocabulary of {_session.VocabSize}");
        return new GenerationStream((stream, enumeratorToken) => RunAsync(stream, prompt, options, cancellationToken, enumeratorToken));
    }

    /// <summary>Generates to the end and returns the result (its <see cref="GenerationResult.Text"/> is the whole text).</summary>
    public async Task<GenerationResult> GenerateTextAsync(string prompt, GenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var stream = GenerateAsync(prompt, options, cancellationToken);
        await foreach (var _ in stream.ConfigureAwait(false)) { }
        return stream.Result;
    }

    /// <summary>The ids a text prompt is generated from: its tokens, with BOS first if asked and the tokenizer wants it.</summary>
    public int[] EncodePrompt(string prompt, bool addBos = true) => PromptEncoding.Encode(_tokenizer, prompt, addBos).ToArray();

    async IAsyncEnumerable<string> RunAsync(GenerationStream stream, int[] prompt, GenerationOptions options,
        CancellationToken callToken, [EnumeratorCancellation] CancellationToken enumeratorToken)
    {
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(callToken, enumeratorToken);
        var ct = linked.Token;
        if (Interlocked.Exchange(ref _running, 1) != 0)
            throw new InvalidOperationException("this generator is already generating: one sequence at a time");
        try
        {
            var sampler = new Sampler(options.Sampling, _session.VocabSize);
            var history = new List<int>(prompt.Length + Math.Min(options.MaxTokens, _session.ContextLength));
            history.AddRange(prompt);
            var generated = new List<int>();
            var text = new StringBuilder();
            var decoder = _tokenizer.CreateStreamingDecoder(options.SkipSpecialTokens);
            var filter = new StopStringFilter(options.StopStrings);
            var extraEnds = options.EndOfGenerationIds.ToHashSet();

            long start = Stopwatch.GetTimestamp();
            int evaluated = await Task.Run(() => Prefill(prompt)).ConfigureAwait(false);
            long decodeStart = Stopwatch.GetTimestamp();

            GenerationResult Finish(StopReason reason)
            {
                var result = new GenerationResult
                {
                    StopReason = reason,
                    StopString = filter.Matched,
                    PromptIds = prompt,
                    PromptTokensEvaluated = evaluated,
                    TokenIds = generated.ToArray(),
                    Text = text.ToString(),
                    Seed = sampler.Seed,
                    PrefillTime = Stopwatch.GetElapsedTime(start, decodeStart),
                    DecodeTime = Stopwatch.GetElapsedTime(decodeStart),
                };
                stream.Finish(result);
                return result;
            }

            StopReason stop;
            for (; ; )
            {
                if (ct.IsCancellationRequested)
                {
                    Finish(StopReason.Cancelled);
                    ct.ThrowIfCancellationRequested();
                }
                int token = sampler.Sample(_logits, CollectionsMarshal.AsSpan(history));
                generated.Add(token);
                history.Add(token);
                if (_tokenizer.IsEndOfGeneration(token) || extraEnds.Contains(token)) { stop = StopReason.EndOfGeneration; break; }
                // An id of the model's padded vocabulary that the tokenizer lacks shows as nothing, as tokenizers' decode.
                var piece = token < _tokenizer.VocabSize ? filter.Push(decoder.Push(token)) : "";
                if (piece.Length > 0)
                {
                    text.Append(piece);
                    yield return piece;
                }
                if (filter.Matched != null) { stop = StopReason.StopString; break; }
                if (generated.Count >= options.MaxTokens) { stop = StopReason.MaxTokens; break; }
                if (_session.Position >= _session.ContextLength) { stop = StopReason.ContextFull; break; }
                await Task.Run(() => Feed(token)).ConfigureAwait(false);
            }

            if (stop != StopReason.StopString)
            {
                // Characters still split over byte tokens come out as Decode shows them; they may complete a stop string.
                var tail = filter.Push(decoder.Flush());
                if (filter.Matched != null) stop = StopReason.StopString;
                else tail += filter.Flush();
                if (tail.Length > 0)
                {
                    text.Append(tail);
                    yield return tail;
                }
            }
            Finish(stop);
        }
        finally
        {
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>
    /// Runs the prompt through the session, keeping the cached start it shares with what was fed before (at least
    /// the last prompt token is run, for its logits). Returns how many tokens were run.
    /// </summary>
    int Prefill(int[] prompt)
    {
        int keep = 0;
        if (_session.Position == _fed.Count)
        {
            int limit = Math.Min(_fed.Count, prompt.Length - 1);
            while (keep < limit && _fed[keep] == prompt[keep]) keep++;
        }
        else _fed.Clear(); // someone else moved the session: trust nothing in it
        _session.Rewind(keep);
        _fed.RemoveRange(keep, _fed.Count - keep);
        _session.Evaluate(prompt.AsSpan(keep), _logits);
        _fed.AddRange(prompt.AsSpan(keep));
        return prompt.Length - keep;
    }

    void Feed(int token)
    {
        _session.Evaluate(new ReadOnlySpan<int>(in token), _logits);
        _fed.Add(token);
    }
}
