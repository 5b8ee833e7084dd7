namespace Agora.Inference.Generation;

/// <summary>
/// One generation's text as it is produced: enumerate it (once) with <c>await foreach</c>; afterwards
/// <see cref="Result"/> says why it stopped and holds the ids and timings.
/// </summary>
public sealed class GenerationStream : IAsyncEnumerable<string>
{
    readonly Func<GenerationStream, CancellationToken, IAsyncEnumerable<string>> _run;
    GenerationResult? _result;
    int _started;

    internal GenerationStream(Func<GenerationStream, CancellationToken, IAsyncEnumerable<string>> run) => _run = run;

    /// <summary>The outcome; set when the text has been enumerated to its end (or cancelled).</summary>
    public GenerationResult Result =>
        _result ?? throw new InvalidOperationException("the generation has not finished: enumerate its text to the end first");

    internal void Finish(GenerationResult result) => _result = result;

    public IAsyncEnumerator<string> GetAsyncEnumerator(CancellationToken cancellationToken = default)
    {
        if (Interlocked.Exchange(ref _started, 1) != 0)
            throw new InvalidOperationException("a generation can be enumerated only once; start another for more text");
        return _run(this, cancellationToken).GetAsyncEnumerator();
    }
}
