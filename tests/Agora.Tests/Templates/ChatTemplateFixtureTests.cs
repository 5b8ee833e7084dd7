using System.Text.Json.Nodes;
using Agora.Templates;

namespace Agora.Tests.Templates;

/// <summary>Rendering real chat templates exactly as transformers' apply_chat_template did (references in the fixtures).</summary>
public class ChatTemplateFixtureTests
{
    static readonly DateTime ReferenceNow = new(2026, 11, 26, 12, 0, 0);

    static JsonObject Conversations() =>
        JsonNode.Parse(File.ReadAllText(Fixtures.Require("chat_templates", "conversations.json")))!.AsObject();

    public static TheoryData<string> TemplateNames()
    {
        var data = new TheoryData<string>();
        var path = Path.Combine(Fixtures.Root, "chat_templates", "renders.json");
        if (!File.Exists(path)) { data.Add("(missing fixtures)"); return data; }
        foreach (var (name, _) in JsonNode.Parse(File.ReadAllText(path))!.AsObject()) data.Add(name);
        return data;
    }

    [Theory]
    [MemberData(nameof(TemplateNames))]
    public void RendersLikeTransformers(string name)
    {
        var renders = JsonNode.Parse(File.ReadAllText(Fixtures.Require("chat_templates", "renders.json")))!.AsObject();
        var entry = renders[name]!.AsObject();
        var path = Fixtures.Require("chat_templates", name);
        var template = ChatTemplate.Parse(File.ReadAllText(path), path);
        CheckRenders(template, entry);
    }

    public static TheoryData<string> TokenizerFamilies() => ["gemma3", "llama3", "qwen3"];

    [Theory]
    [MemberData(nameof(TokenizerFamilies))]
    public void TokenizerTemplatesRenderLikeTransformers(string family)
    {
        var dir = Fixtures.Require("tokenizers", family);
        var entry = JsonNode.Parse(File.ReadAllText(Path.Combine(dir, "chat_template_renders.json")))!.AsObject();
        var template = ChatTemplate.FromTokenizerConfig(Path.Combine(dir, "tokenizer_config.json"));
        Assert.NotNull(template);
        Assert.Equal((string?)entry["bos_token"], template.BosToken);
        Assert.Equal((string?)entry["eos_token"], template.EosToken);
        CheckRenders(template, entry);
    }

    static void CheckRenders(ChatTemplate template, JsonObject entry)
    {
        var conversations = Conversations();
        var renders = entry["renders"]!.AsArray();
        Assert.NotEmpty(renders);
        foreach (var render in renders)
        {
            var input = new ChatTemplateInput
            {
                Messages = conversations[(string)render!["conversation"]!]!.DeepClone(),
                AddGenerationPrompt = (bool)render["add_generation_prompt"]!,
                BosToken = (string?)entry["bos_token"],
                EosToken = (string?)entry["eos_token"],
                Clock = () => ReferenceNow,
            };
            var label = $"{template.Origin} / {render["conversation"]} / add_generation_prompt={render["add_generation_prompt"]}";
            if (render["error"] is { } error)
            {
                var e = Assert.Throws<TemplateException>(() => template.Render(input));
                Assert.True((string)error! == e.Message, $"{label}: expected error {error}, got {e.Message}");
            }
            else
            {
                var text = template.Render(input);
                Assert.True((string)render["text"]! == text, $"{label}: rendered\n{text}\n---- expected\n{render["text"]}");
            }
        }
    }

    [Fact]
    public void Qwen2FolderPrefersChatTemplateJinja()
    {
        var dir = Fixtures.Require("models", "qwen2-a", "hf");
        var template = ChatTemplate.FromFolder(dir);
        Assert.NotNull(template);
        Assert.EndsWith("chat_template.jinja", template.Origin);
        Assert.Equal("<|im_end|>", template.EosToken);
        AssertChatMl(template);
    }

    [Fact]
    public void KjvLlamaFolderUsesTokenizerConfigTemplate()
    {
        var dir = Fixtures.Require("models", "kjv-llama", "hf");
        var template = ChatTemplate.FromFolder(dir);
        Assert.NotNull(template);
        Assert.EndsWith("tokenizer_config.json", template.Origin);
        Assert.Equal("<|endoftext|>", template.BosToken);
        AssertChatMl(template);
    }

    static void AssertChatMl(ChatTemplate template)
    {
        var messages = Conversations()["system_multi"]!.DeepClone();
        var text = template.Render(new ChatTemplateInput { Messages = messages, AddGenerationPrompt = true });
        var roles = new[] { "system", "user", "assistant", "user" };
        var at = 0;
        foreach (var (role, message) in roles.Zip(messages.AsArray()))
        {
            var turn = $"<|im_start|>{role}\n{message!["content"]}<|im_end|>\n";
            var found = text.IndexOf(turn, at, StringComparison.Ordinal);
            Assert.True(found >= at, $"turn '{turn}' not found in order in:\n{text}");
            at = found + turn.Length;
        }
        Assert.EndsWith("<|im_start|>assistant\n", text);
        var noPrompt = template.Render(new ChatTemplateInput { Messages = messages, AddGenerationPrompt = false });
        Assert.Equal(text[..^"<|im_start|>assistant\n".Length], noPrompt);
    }
}
