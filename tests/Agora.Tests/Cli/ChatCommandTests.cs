namespace Agora.Tests.Cli;

public class ChatCommandTests
{
    [Fact]
    public void OneReplyPerLineFromAPipe()
    {
        var model = Fixtures.Require("models", "kjv-llama", "hf");
        var r = CliRunner.RunWithInput("Who art thou?\n\nWhat is thy name?\n", "chat", model, "--temp", "0", "-n", "16", "--system", "Answer in the words of scripture.");
        Assert.Equal(0, r.ExitCode);
        var replies = r.Out.Split('\n');
        Assert.True(replies.Length >= 3, $"expected two replies, got: {r.Out}");
        Assert.Equal("", replies[^1]);
    }

    [Fact]
    public void ConversationIsDeterministicWhenGreedy()
    {
        var model = Fixtures.Require("models", "kjv-llama", "model-f16.gguf");
        var a = CliRunner.RunWithInput("Hello\nAnd then?\n", "chat", model, "--temp", "0", "-n", "12");
        var b = CliRunner.RunWithInput("Hello\nAnd then?\n", "chat", model, "--temp", "0", "-n", "12");
        Assert.Equal(0, a.ExitCode);
        Assert.Equal(a.Out, b.Out);
    }

    [Fact]
    public void ModelWithoutTemplateIsRefused()
    {
        var model = Fixtures.Require("models", "qwen2-a", "model-f16.gguf");
        CliRunner.AssertCleanFailure(CliRunner.RunWithInput("hi\n", "chat", model), "no chat template");
    }
}
