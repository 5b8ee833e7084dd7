using Agora.Inference;

namespace Agora.Tests.Inference;

/// <summary>
/// A model stand-in with deterministic logits: <c>next(sequence, logits)</c> writes the logits that follow a
/// sequence. Keeps to the ITokenSession contract (limits checked before any change) and records each Evaluate.
/// </summary>
sealed class FakeSession(int vocabSize, int contextLength, Action<IReadOnlyList<int>, Span<float>> next) : ITokenSession
{
    readonly List<int> _tokens = new();

    public int VocabSize => vocabSize;
    public int ContextLength => contextLength;
    public int Position => _tokens.Count;
    public IReadOnlyList<int> Tokens => _tokens;
    /// <summary>The length of every Evaluate call, in order.</summary>
    public List<int> Calls { get; } = new();

    public void Evaluate(ReadOnlySpan<int> tokens, Span<float> logits)
    {
        if (tokens.IsEmpty) throw new AgoraException("no tokens");
        if (_tokens.Count + tokens.Length > contextLength) throw new AgoraException("context exceeded");
        foreach (int id in tokens)
            if ((uint)id >= (uint)vocabSize) throw new AgoraException($"id {id} outside the vocabulary");
        bool all = logits.Length == tokens.Length * vocabSize;
        if (!all && logits.Length != vocabSize) throw new ArgumentException("bad logits length");
        Calls.Add(tokens.Length);
        for (int i = 0; i < tokens.Length; i++)
        {
            _tokens.Add(tokens[i]);
            if (all) next(_tokens, logits.Slice(i * vocabSize, vocabSize));
            else if (i == tokens.Length - 1) next(_tokens, logits);
        }
    }

    public void Rewind(int position) => _tokens.RemoveRange(position, _tokens.Count - position);

    /// <summary>A session that, after the prompt, says the ids of <paramref name="script"/> one by one (logit 10, the rest 0).</summary>
    public static FakeSession Scripted(int vocabSize, int contextLength, int promptLength, IReadOnlyList<int> script) =>
        new(vocabSize, contextLength, (sequence, logits) =>
        {
            logits.Clear();
            int step = sequence.Count - promptLength;
            if (step >= 0 && step < script.Count) logits[script[step]] = 10;
        });

    /// <summary>Logits that depend on the whole sequence in a fixed pseudo-random way, values within ±4.</summary>
    public static FakeSession Hashed(int vocabSize, int contextLength) =>
        new(vocabSize, contextLength, (sequence, logits) =>
        {
            ulong h = 1469598103934665603UL;
            foreach (int id in sequence) h = (h ^ (uint)id) * 1099511628211UL;
            for (int v = 0; v < logits.Length; v++)
            {
                ulong x = (h + (ulong)v * 0x9E3779B97F4A7C15UL) * 0xBF58476D1CE4E5B9UL;
                logits[v] = (float)((x >> 40) / (double)(1UL << 24) * 8 - 4);
            }
        });
}
