using Agora.Inference;
using System.Text.Json.Nodes;
using Agora.Formats.Checkpoint;
using Agora.Models;

namespace Agora.Tests.Models;

/// <summary>Mistral's sliding window: a query attends to itself and the window − 1 positions before it.</summary>
public class SlidingWindowTests
{
    [Fact]
    public void WindowLimitsAttentionOnlyBeyondItsLength()
    {
        const int window = 4;
        using var plainCheckpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        using var wide = new HfVariant("llama-a", c => { c["model_type"] = "mistral"; c["sliding_window"] = 64; });
        using var narrow = new HfVariant("llama-a", c => { c["model_type"] = "mistral"; c["sliding_window"] = window; });
        using var wideCheckpoint = Checkpoint.Open(wide.Folder);
        using var narrowCheckpoint = Checkpoint.Open(narrow.Folder);
        Assert.Equal(window, narrowCheckpoint.Config.SlidingWindow);
        var plain = TransformerModel.Load(plainCheckpoint);
        var windowed = TransformerModel.Load(narrowCheckpoint);
        int vocab = plain.VocabSize;
        var ids = ModelReference.Load("llama-a").Prompts[2].Ids;

        var expected = ModelReference.AllLogits(plain.CreateSession(), ids);
        Assert.Equal(expected, ModelReference.AllLogits(TransformerModel.Load(wideCheckpoint).CreateSession(), ids));
        var limited = ModelReference.AllLogits(windowed.CreateSession(), ids);
        Assert.Equal(expected.AsSpan(0, window * vocab).ToArray(), limited.AsSpan(0, window * vocab).ToArray());
        for (int t = window; t < ids.Length; t++)
            Assert.True(ModelReference.RelativeError(limited.AsSpan(t * vocab, vocab), expected.AsSpan(t * vocab, vocab)) > 1e-3);

        // Decoding through the cache applies the same window.
        var session = windowed.CreateSession();
        session.Evaluate(ids.AsSpan(0, 2), new float[vocab]);
        var last = new float[vocab];
        for (int t = 2; t < ids.Length; t++) session.Evaluate(ids.AsSpan(t, 1), last);
        Assert.True(ModelReference.RelativeError(last, limited.AsSpan((ids.Length - 1) * vocab)) < 1e-6);
    }

    [Fact]
    public void Qwen2WindowIsRefused()
    {
        using var variant = new HfVariant("qwen2-a", c => { c["use_sliding_window"] = true; c["sliding_window"] = 8; });
        using var checkpoint = Checkpoint.Open(variant.Folder);
        Assert.Contains("sliding", Assert.Throws<AgoraException>(() => TransformerModel.Load(checkpoint)).Message);
    }
}
