using System.Diagnostics;
using System.Text.Json.Nodes;
using Agora.Templates;

namespace Agora.Tests.Templates;

public class ChatTemplateTests
{
    static string Render(string source, bool addGenerationPrompt = false, JsonNode? messages = null) =>
        ChatTemplate.Parse(source, "test.jinja").Render(new ChatTemplateInput
        {
            Messages = messages ?? JsonNode.Parse("""[{"role": "user", "content": "Hi"}]""")!,
            AddGenerationPrompt = addGenerationPrompt,
            BosToken = "<s>",
            Clock = () => new DateTime(2026, 11, 26, 9, 5, 7),
        });

    [Fact]
    public void GenerationBlockRendersItsBody() =>
        Assert.Equal("<s>user: Hi|", Render("{{ bos_token }}{% for m in messages %}{% generation %}{{ m.role }}: {{ m.content }}{% endgeneration %}|{% endfor %}"));

    [Fact]
    public void StrftimeNowUsesTheInjectedClock() =>
        Assert.Equal("26 Nov 2026 09:05:07 Thursday 2026-11-26", Render("{{ strftime_now('%d %b %Y %H:%M:%S %A %Y-%m-%d') }}"));

    [Fact]
    public void StandardVariablesAreDefinedAsTransformersPassesThem() =>
        Assert.Equal("True|None|None|<s>|False", Render(
            "{{ add_generation_prompt }}|{{ tools }}|{{ documents }}|{{ bos_token }}|{{ eos_token is defined }}", addGenerationPrompt: true));

    [Fact]
    public void ToolsAndExtraVariablesReachTheTemplate()
    {
        var template = ChatTemplate.Parse("{% for t in tools %}{{ t.function.name }}{% endfor %}|{{ enable_thinking }}|{{ tools | tojson }}", "t");
        var text = template.Render(new ChatTemplateInput
        {
            Messages = new JsonArray(),
            Tools = JsonNode.Parse("""[{"type": "function", "function": {"name": "get_weather", "parameters": {"x": 1.5}}}]"""),
            Variables = new Dictionary<string, JsonNode?> { ["enable_thinking"] = false },
        });
        Assert.Equal("""get_weather|False|[{"type": "function", "function": {"name": "get_weather", "parameters": {"x": 1.5}}}]""", text);
    }

    [Fact]
    public void RaiseExceptionCarriesTheTemplatesTextAndLine()
    {
        var e = Assert.Throws<TemplateException>(() => Render("line one\n{% if true %}\n{{ raise_exception('Roles must alternate') }}\n{% endif %}"));
        Assert.Equal("TemplateError", e.ErrorType);
        Assert.Equal("Roles must alternate", e.Detail);
        Assert.Equal("TemplateError: Roles must alternate", e.Message);
        Assert.Equal(3, e.Line);
        Assert.Equal("test.jinja", e.Origin);
        Assert.IsAssignableFrom<AgoraException>(e);
    }

    [Theory]
    [InlineData("{% for x in y %}\nno end", 2, "Unexpected end of template. Jinja was looking for the following tags: 'endfor' or 'else'. The innermost block that needs to be closed is 'for'.")]
    [InlineData("a\nb\n{{ 1 + }}", 3, "unexpected 'end of print statement'")]
    [InlineData("{% frobnicate %}", 1, "Encountered unknown tag 'frobnicate'.")]
    [InlineData("\n{{ x | nofilter }}", 2, "No filter named 'nofilter'.")]
    [InlineData("{{ x is notatest }}", 1, "No test named 'notatest'.")]
    [InlineData("{% if x %}\n{% endfor %}", 2, "Encountered unknown tag 'endfor'. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.")]
    [InlineData("{% for x in y %}{% if x %}{% endfor %}", 1, "Encountered unknown tag 'endfor'. You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'.")]
    [InlineData("{{ 'unterminated }}", 1, "unexpected char \"'\" at 3")]
    [InlineData("{# never closed", 1, "Missing end of comment tag")]
    [InlineData("{% break %}", 1, "'break' outside loop")]
    [InlineData("{{ (1 }}", 1, "unexpected '}', expected ')'")]
    public void SyntaxErrorsNameOriginAndLine(string source, int line, string detail)
    {
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse(source, "models/x/chat_template.jinja"));
        Assert.Equal("TemplateSyntaxError", e.ErrorType);
        Assert.Equal(detail, e.Detail);
        Assert.Equal(line, e.Line);
        Assert.Equal($"models/x/chat_template.jinja: line {line}: {detail}", e.Message);
    }

    [Theory]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "RuntimeError")]
    [InlineData("{{ 'x' * 1000000000 }}", "MemoryError")]
    [InlineData("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", "MemoryError")]
    [InlineData("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", "RecursionError")]
    [InlineData("{{ 9223372036854775807 + 1 }}", "OverflowError")]
    public void HostileTemplatesFailCleanly(string source, string errorType)
    {
        var e = Assert.Throws<TemplateException>(() => Render(source));
        Assert.Equal(errorType, e.ErrorType);
    }

    [Fact]
    public void DeeplyNestedSourceIsASyntaxError()
    {
        var e = Assert.Throws<TemplateException>(() => ChatTemplate.Parse("{{ " + new string('(', 5000) + "1" + new string(')', 5000) + " }}", "deep"));
        Assert.Equal("TemplateSyntaxError", e.ErrorType);
    }

    [Fact]
    public void TokenizerConfigTemplateListPicksDefaultAndReadsAddedTokens()
    {
        var dir = Directory.CreateTempSubdirectory("agora-templates");
        try
        {
            var config = Path.Combine(dir.FullName, "tokenizer_config.json");
            File.WriteAllText(config, """
                {"bos_token": {"content": "<B>", "lstrip": false}, "eos_token": "<E>",
                 "chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "{{ bos_token }}d{{ eos_token }}"}]}
                """);
            var template = ChatTemplate.FromFolder(dir.FullName)!;
            Assert.Equal("<B>", template.BosToken);
            Assert.Equal("<B>d<E>", template.Render(new ChatTemplateInput { Messages = new JsonArray() }));
            Assert.Equal("tools", ChatTemplate.FromTokenizerConfig(config, "tool_use")!.Source);
            Assert.Throws<AgoraFormatException>(() => ChatTemplate.FromTokenizerConfig(config, "missing"));

            File.WriteAllText(Path.Combine(dir.FullName, "chat_template.jinja"), "jinja wins {{ eos_token }}\n");
            Assert.Equal("jinja wins <E>", ChatTemplate.FromFolder(dir.FullName)!.Render(new ChatTemplateInput { Messages = new JsonArray() }));

            File.WriteAllText(config, """{"eos_token": "<E>"}""");
            File.Delete(Path.Combine(dir.FullName, "chat_template.jinja"));
            Assert.Null(ChatTemplate.FromFolder(dir.FullName));
            File.WriteAllText(config, "{ not json");
            Assert.Throws<AgoraFormatException>(() => ChatTemplate.FromFolder(dir.FullName));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Thousands of damaged real templates: each parses and renders, or throws TemplateException — nothing else, and quickly.</summary>
    [Fact]
    public void MutatedTemplatesFailOnlyWithTemplateException()
    {
        var sources = Directory.GetFiles(Fixtures.Require("chat_templates"), "*.jinja").Select(File.ReadAllText).ToList();
        var messages = JsonNode.Parse(File.ReadAllText(Fixtures.Require("chat_templates", "conversations.json")))!["system_multi"]!;
        string[] snippets =
        [
            "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{% for x in messages %}", "{% endfor %}", "{% if x %}", "{% endif %}",
            "{% else %}", "(", ")", "[", "]", "{", "}", "|", "'", "\"", "\\", "-", "**", ".", ",", ":", "~", "=", " is ", " not ",
            "{% set x = 1 %}", "{% macro m(a) %}", "{% endmacro %}", "{{ m(1) }}", "loop.", "|tojson", "|join", "range(99999)",
            "{% raw %}", "{% endraw %}", "\n", "  ", "0", "9e999", "é", "😀",
        ];
        var random = new Random(20261126);
        var stopwatch = Stopwatch.StartNew();
        int rendered = 0, rejected = 0;
        for (var i = 0; i < 3000; i++)
        {
            var text = sources[random.Next(sources.Count)];
            for (var m = random.Next(1, 4); m > 0; m--)
            {
                var at = random.Next(text.Length + 1);
                text = random.Next(3) switch
                {
                    0 => text[..at],
                    1 => text.Remove(at, Math.Min(random.Next(1, 40), text.Length - at)),
                    _ => text.Insert(at, snippets[random.Next(snippets.Length)]),
                };
            }
            try
            {
                ChatTemplate.Parse(text, $"mutant{i}").Render(new ChatTemplateInput
                {
                    Messages = messages.DeepClone(),
                    AddGenerationPrompt = random.Next(2) == 0,
                    BosToken = "<s>",
                    Clock = () => new DateTime(2026, 11, 26),
                });
                rendered++;
            }
            catch (TemplateException)
            {
                rejected++;
            }
        }
        Assert.True(rendered > 100 && rejected > 100, $"rendered {rendered}, rejected {rejected}");
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(60), $"took {stopwatch.Elapsed}");
    }
}
