using System.Text.Json.Nodes;

namespace Agora.Tests.Cli;

public class TemplateCommandTests
{
    [Fact]
    public void RendersAsTransformersDoes()
    {
        var dir = Fixtures.Require("tokenizers", "llama3");
        var conversations = JsonNode.Parse(File.ReadAllText(Fixtures.Require("chat_templates", "conversations.json")))!;
        var renders = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "chat_template_renders.json")))!["renders"]!.AsArray();
        foreach (var render in renders)
        {
            var messages = Path.GetTempFileName();
            try
            {
                File.WriteAllText(messages, conversations[(string)render!["conversation"]!]!.ToJsonString());
                var args = new List<string> { "template", dir, "--messages", messages };
                if ((bool)render["add_generation_prompt"]!) args.Add("--add-generation-prompt");
                var r = CliRunner.Run([.. args]);
                Assert.Equal(0, r.ExitCode);
                Assert.Equal((string)render["text"]!, r.Out);
            }
            finally { File.Delete(messages); }
        }
    }

    [Fact]
    public void GgufTemplateIsFound()
    {
        var gguf = Fixtures.Require("models", "kjv-llama", "model-f16.gguf");
        var messages = Path.GetTempFileName();
        try
        {
            File.WriteAllText(messages, "[{\"role\":\"user\",\"content\":\"In the beginning\"}]");
            var r = CliRunner.Run("template", gguf, "--messages", messages, "--add-generation-prompt");
            Assert.Equal(0, r.ExitCode);
            Assert.Contains("In the beginning", r.Out);
        }
        finally { File.Delete(messages); }
    }

    [Fact]
    public void RaisingTemplateExitsNonZeroWithItsMessage()
    {
        var dir = Directory.CreateTempSubdirectory("agora-template-");
        try
        {
            var template = Path.Combine(dir.FullName, "t.jinja");
            File.WriteAllText(template, "{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok");
            var messages = Path.Combine(dir.FullName, "m.json");
            File.WriteAllText(messages, "[{\"role\":\"system\",\"content\":\"x\"}]");
            CliRunner.AssertCleanFailure(CliRunner.Run("template", template, "--messages", messages), "System role not supported");
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void BadMessagesFileIsNamed()
    {
        var dir = Fixtures.Require("tokenizers", "llama3");
        var messages = Path.GetTempFileName();
        try
        {
            File.WriteAllText(messages, "{\"role\": \"user\"}");
            CliRunner.AssertCleanFailure(CliRunner.Run("template", dir, "--messages", messages), messages);
        }
        finally { File.Delete(messages); }
    }
}
