using Agora.Inference;
using Agora.Formats.Checkpoint;
using Agora.Inference.Generation;
using Agora.Inference.Sampling;
using Agora.Inference.Scoring;
using Agora.Models;
using Agora.Tests.Models;
using Agora.Tests.Tokenization;
using Agora.Tokenization;

namespace Agora.Tests.Inference;

/// <summary>Generation and scoring through the real engine on llama-a, against the reference stack's numbers.</summary>
public class ReferenceModelTests
{
    const double DecisiveMargin = 1e-3;

    [Fact]
    public async Task Greedy_generation_reproduces_the_reference_continuations()
    {
        var reference = ModelReference.Load("llama-a");
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var model = TransformerModel.Load(checkpoint);
        var generator = new TextGenerator(model.CreateSession(), TokenizerFixtures.Model("llama-a"));
        int checkedPrompts = 0;
        foreach (var prompt in reference.Prompts.Where(p => p.GreedyMinMargin > DecisiveMargin))
        {
            var stream = generator.GenerateAsync(prompt.Ids, new GenerationOptions
            {
                Sampling = SamplerOptions.Greedy,
                MaxTokens = prompt.GreedyIds.Length,
            }, TestContext.Current.CancellationToken);
            await foreach (var _ in stream) { }
            Assert.Equal(prompt.GreedyIds, stream.Result.TokenIds);
            Assert.Equal(StopReason.MaxTokens, stream.Result.StopReason);
            checkedPrompts++;
        }
        Assert.True(checkedPrompts >= 3, $"only {checkedPrompts} prompts have a decisive margin");
    }

    [Fact]
    public async Task Text_in_text_out_on_a_real_language_model()
    {
        var folder = Fixtures.Require("models", "kjv-llama");
        var prompts = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "reference.json")))!["prompts"]!.AsArray();
        using var checkpoint = Checkpoint.Open(Path.Combine(folder, "hf"));
        var generator = new TextGenerator(TransformerModel.Load(checkpoint).CreateSession(), TokenizerSource.Load(checkpoint));
        var ct = TestContext.Current.CancellationToken;
        foreach (var prompt in prompts)
        {
            var text = (string)prompt!["text"]!;
            var greedyIds = prompt["greedy_ids"]!.AsArray().Select(v => (int)v!).ToArray();
            var greedyText = (string)prompt["greedy_text"]!;
            var result = await generator.GenerateTextAsync(text, new GenerationOptions
            {
                Sampling = SamplerOptions.Greedy,
                MaxTokens = greedyIds.Length,
            }, ct);
            Assert.Equal(prompt["ids"]!.AsArray().Select(v => (int)v!), result.PromptIds);
            Assert.Equal(greedyIds, result.TokenIds);
            Assert.Equal(greedyText, result.Text);

            // The same run told to stop at the first line break.
            var line = await generator.GenerateTextAsync(text, new GenerationOptions
            {
                Sampling = SamplerOptions.Greedy,
                MaxTokens = greedyIds.Length,
                StopStrings = ["\n"],
            }, ct);
            Assert.Equal(StopReason.StopString, line.StopReason);
            Assert.Equal(greedyText[..greedyText.IndexOf('\n')], line.Text);
        }
    }

    [Fact]
    public void Scores_are_the_log_softmax_of_the_reference_logits()
    {
        var reference = ModelReference.Load("llama-a");
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var model = TransformerModel.Load(checkpoint);
        var scorer = new LogLikelihoodScorer(model.CreateSession());
        int vocab = model.VocabSize, greedyChecked = 0;
        double worst = 0;
        foreach (var prompt in reference.Prompts)
        {
            var logits = reference.Tensor($"logits.{prompt.Index}");
            foreach (int split in new[] { 1, prompt.Ids.Length / 2, prompt.Ids.Length - 1 })
            {
                var score = scorer.Score(prompt.Ids[..split], prompt.Ids[split..]);
                for (int j = 0; j < score.Tokens.Count; j++)
                {
                    var row = logits.AsSpan((split - 1 + j) * vocab, vocab);
                    int id = prompt.Ids[split + j];
                    double expected = ReferenceLogSoftmax(row, id);
                    worst = Math.Max(worst, Math.Abs(score.Tokens[j].LogProb - expected));
                    Assert.True(Math.Abs(score.Tokens[j].LogProb - expected) < 1e-4,
                        $"prompt {prompt.Index}, split {split}, token {j}: {score.Tokens[j].LogProb} vs {expected}");
                    if (TopTwoMargin(row) > DecisiveMargin)
                    {
                        Assert.Equal(ModelReference.ArgMax(row) == id, score.Tokens[j].IsGreedy);
                        greedyChecked++;
                    }
                }
            }
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"largest logprob difference {worst:0.0e0} nats; {greedyChecked} greedy flags checked");
        Assert.True(greedyChecked > 20);
    }

    [Fact]
    public void Scoring_the_greedy_continuation_says_it_is_greedy()
    {
        var reference = ModelReference.Load("llama-a");
        using var checkpoint = Checkpoint.Open(Fixtures.Require("models", "llama-a", "hf"));
        var scorer = new LogLikelihoodScorer(TransformerModel.Load(checkpoint).CreateSession());
        foreach (var prompt in reference.Prompts.Where(p => p.GreedyMinMargin > DecisiveMargin))
            Assert.True(scorer.Score(prompt.Ids, prompt.GreedyIds).IsGreedy, $"prompt {prompt.Index}");
    }

    static double ReferenceLogSoftmax(ReadOnlySpan<float> row, int id)
    {
        double max = double.NegativeInfinity, sum = 0;
        foreach (float v in row) max = Math.Max(max, v);
        foreach (float v in row) sum += Math.Exp(v - max);
        return row[id] - max - Math.Log(sum);
    }

    static double TopTwoMargin(ReadOnlySpan<float> row)
    {
        float first = float.NegativeInfinity, second = float.NegativeInfinity;
        foreach (float v in row)
        {
            if (v > first) { second = first; first = v; }
            else if (v > second) second = v;
        }
        return first - second;
    }
}
