using System.Text.Json;
using Agora.Templates;
using Agora.Tokenization;
using Agora.Training;
using Agora.Training.Data;

namespace Agora.Tests.Training;

/// <summary>The dataset readers on small inline files, with llama-a's tokenizer and chat template.</summary>
public sealed class DataTests : IDisposable
{
    readonly string _folder = Directory.CreateTempSubdirectory("agora-data-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    static string Model => Fixtures.Require("models", "llama-a", "hf");
    static ITokenizer Tokenizer() => TokenizerSource.Load(Path.Combine(Model, "tokenizer.json"));

    string File(string text)
    {
        var path = Path.Combine(_folder, $"{Guid.NewGuid():N}.jsonl");
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    static ExampleEncoder Encoder(ITokenizer tokenizer, DatasetFormat format, int maxLength = 512, bool trainOnInputs = false, bool skip = false) =>
        new(tokenizer, ChatTemplate.FromFolder(Model), new EncodingOptions { Format = format, MaxLength = maxLength, TrainOnInputs = trainOnInputs, SkipMalformed = skip });

    /// <summary>The prompt part (labels −100) and the trained part of an example, decoded.</summary>
    static (string Prompt, string Response) Split(ITokenizer tokenizer, TrainingExample e)
    {
        int first = Array.FindIndex(e.Labels, l => l != TrainingBatch.Ignored);
        Assert.Equal(tokenizer.BosId, e.Tokens[0]);
        return (tokenizer.Decode(e.Tokens.AsSpan(1, first - 1)), tokenizer.Decode(e.Tokens.AsSpan(first)));
    }

    [Fact]
    public void AlpacaUsesTheStanfordPromptsAndEndsTheResponseWithEos()
    {
        var tokenizer = Tokenizer();
        var path = File("""
            {"instruction": "Name a colour.", "input": "", "output": "Blue."}
            {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"}
            """);
        var data = Encoder(tokenizer, DatasetFormat.Alpaca).EncodeFile(path);
        Assert.Equal(2, data.Examples.Count);
        var (prompt, response) = Split(tokenizer, data.Examples[0]);
        Assert.Equal("Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n### Instruction:\nName a colour.\n\n### Response:\n", prompt);
        string eos = tokenizer.Decode([tokenizer.EosId!.Value]);
        Assert.Equal("Blue." + eos, response);
        Assert.Equal(tokenizer.EosId, data.Examples[0].Tokens[^1]);
        (prompt, response) = Split(tokenizer, data.Examples[1]);
        Assert.Equal("Below is an instruction that describes a task, paired with an input that provides further context. Write a response that appropriately completes the request.\n\n### Instruction:\nAdd the numbers.\n\n### Input:\n2 and 3\n\n### Response:\n", prompt);
        Assert.Equal("5" + eos, response);
        // Every trained label is its own token (Hugging Face alignment: the loss shifts).
        var e = data.Examples[1];
        for (int t = 0; t < e.Tokens.Length; t++) Assert.True(e.Labels[t] == TrainingBatch.Ignored || e.Labels[t] == e.Tokens[t]);
    }

    [Fact]
    public void TrainOnInputsScoresThePromptToo()
    {
        var path = File("""{"instruction": "Say hi.", "output": "Hi."}""");
        var e = Encoder(Tokenizer(), DatasetFormat.Alpaca, trainOnInputs: true).EncodeFile(path).Examples[0];
        Assert.Equal(e.Tokens, e.Labels);
    }

    [Fact]
    public void ShareGptAndMessagesScoreOnlyTheAssistantsTurns()
    {
        var tokenizer = Tokenizer();
        var shareGpt = File("""{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hello"}, {"from": "human", "value": "Bye"}, {"from": "gpt", "value": "Ciao"}]}""");
        var messages = File("""[{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Bye"}, {"role": "assistant", "content": "Ciao"}]}]""");
        var a = Encoder(tokenizer, DatasetFormat.ShareGpt).EncodeFile(shareGpt).Examples[0];
        var b = Encoder(tokenizer, DatasetFormat.Messages).EncodeFile(messages).Examples[0];
        Assert.Equal(a, b, (x, y) => x.Tokens.SequenceEqual(y.Tokens) && x.Labels.SequenceEqual(y.Labels));
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>user\nBye<|im_end|>\n<|im_start|>assistant\nCiao<|im_end|>\n",
            tokenizer.Decode(a.Tokens));
        var trained = string.Concat(Runs(a).Where(r => r.Trained).Select(r => "[" + tokenizer.Decode(r.Ids) + "]"));
        Assert.Equal("[Hello<|im_end|>\n][Ciao<|im_end|>\n]", trained);
    }

    static IEnumerable<(bool Trained, int[] Ids)> Runs(TrainingExample e)
    {
        int start = 0;
        for (int t = 1; t <= e.Tokens.Length; t++)
            if (t == e.Tokens.Length || (e.Labels[t] == TrainingBatch.Ignored) != (e.Labels[start] == TrainingBatch.Ignored))
            {
                yield return (e.Labels[start] != TrainingBatch.Ignored, e.Tokens[start..t]);
                start = t;
            }
    }

    [Fact]
    public void PreTokenizedRecordsKeepTheirLabels()
    {
        var path = File("""
            {"input_ids": [1, 2, 3, 4], "labels": [-100, -100, 3, 4]}
            {"input_ids": [5, 6, 7]}
            """);
        var data = Encoder(Tokenizer(), DatasetFormat.Tokens).EncodeFile(path);
        Assert.Equal([-100, -100, 3, 4], data.Examples[0].Labels);
        Assert.Equal([5, 6, 7], data.Examples[1].Labels);
        var bad = File("""{"input_ids": [1, 2, 3], "labels": [1, 2]}""");
        var e = Assert.Throws<AgoraFormatException>(() => Encoder(Tokenizer(), DatasetFormat.Tokens).EncodeFile(bad));
        Assert.Contains("line 1", e.Message);
        Assert.Contains("2 values for 3 input_ids", e.Message);
    }

    [Fact]
    public void LongExamplesAreTruncatedAndCounted()
    {
        var path = File("""
            {"input_ids": [1, 2, 3, 4, 5, 6, 7, 8]}
            {"input_ids": [1, 2, 3], "labels": [-100, -100, -100]}
            {"input_ids": [1, 2, 3]}
            {"input_ids": [1, 2, 3, 4, 5, 6], "labels": [-100, -100, -100, -100, -100, 6]}
            """);
        var data = Encoder(Tokenizer(), DatasetFormat.Tokens, maxLength: 4, skip: true).EncodeFile(path);
        Assert.Equal(2, data.Examples.Count);
        Assert.Equal([1, 2, 3, 4], data.Examples[0].Tokens);
        Assert.Equal(2, data.Truncated);
        Assert.Equal(2, data.DroppedAfterTruncation);
    }

    [Fact]
    public void BadLinesNameTheFileAndLineOrAreSkipped()
    {
        var path = File("""
            {"instruction": "a", "output": "b"}

            {"instruction": "a", "output": 
            [1, 2]
            {"instruction": "a", "output": ""}
            {"instruction": "a"}
            """);
        var e = Assert.Throws<AgoraFormatException>(() => Encoder(Tokenizer(), DatasetFormat.Alpaca).EncodeFile(path));
        Assert.Contains(path, e.Message);
        Assert.Contains("line 3: not valid JSON", e.Message);
        var data = Encoder(Tokenizer(), DatasetFormat.Alpaca, skip: true).EncodeFile(path);
        Assert.Single(data.Examples);
        Assert.Equal(4, data.Skipped);

        var empty = File("""{"instruction": "a", "output": ""}""");
        e = Assert.Throws<AgoraFormatException>(() => Encoder(Tokenizer(), DatasetFormat.Alpaca).EncodeFile(empty));
        Assert.Contains("line 1: the response ('output') is empty", e.Message);
        var noAssistant = File("""{"messages": [{"role": "user", "content": "Hi"}]}""");
        e = Assert.Throws<AgoraFormatException>(() => Encoder(Tokenizer(), DatasetFormat.Messages).EncodeFile(noAssistant));
        Assert.Contains("no assistant message", e.Message);
        var role = File("""{"conversations": [{"from": "robot", "value": "Hi"}]}""");
        e = Assert.Throws<AgoraFormatException>(() => Encoder(Tokenizer(), DatasetFormat.ShareGpt).EncodeFile(role));
        Assert.Contains("unknown from 'robot'", e.Message);
    }

    [Fact]
    public void BatchesArePaddedWithIgnoredLabelsAndShuffledBySeed()
    {
        var examples = Enumerable.Range(1, 5).Select(n => new TrainingExample([.. Enumerable.Range(1, n)], [.. Enumerable.Range(1, n)])).ToList();
        var sampler = new BatchSampler(examples, 2, padId: 0, shuffle: false, seed: 1);
        var first = sampler.Next();
        Assert.Equal([1, 0, 1, 2], first.Tokens);
        Assert.Equal([1, -100, 1, 2], first.Labels);
        sampler.Next();
        Assert.Equal(1, sampler.Next().Sequences);
        Assert.Equal(0, sampler.Epoch);
        Assert.Equal([1, 0, 1, 2], sampler.Next().Tokens);
        Assert.Equal(1, sampler.Epoch);

        static int[] Lengths(ulong seed)
        {
            var s = new BatchSampler(Enumerable.Range(1, 8).Select(n => new TrainingExample(new int[n], new int[n])).ToList(), 1, 0, shuffle: true, seed);
            return [.. Enumerable.Range(0, 8).Select(_ => s.Next().Length)];
        }
        Assert.Equal(Lengths(7), Lengths(7));
        Assert.NotEqual(Lengths(7), Lengths(8));
        Assert.Equal(Enumerable.Range(1, 8), Lengths(7).Order());
    }
}
