using System.Text.Json.Nodes;
using Agora.Templates;

namespace Agora.Tests.Templates;

/// <summary>Language features one by one, compared with what Jinja2 itself renders (see <see cref="JinjaReferenceCases"/>).</summary>
public class JinjaSemanticsTests
{
    static readonly JsonObject Reference = JsonNode.Parse(JinjaReferenceCases.Json)!.AsObject();

    public static TheoryData<int> CaseIndexes()
    {
        var data = new TheoryData<int>();
        for (var i = 0; i < Reference["cases"]!.AsArray().Count; i++) data.Add(i);
        return data;
    }

    static string Render(string source, JsonObject vars)
    {
        var template = ChatTemplate.Parse(source, "case");
        return template.Render(new ChatTemplateInput
        {
            Messages = new JsonArray(),
            Variables = vars.ToDictionary(p => p.Key, p => p.Value?.DeepClone()),
        });
    }

    [Theory]
    [MemberData(nameof(CaseIndexes))]
    public void MatchesJinja(int index)
    {
        var c = Reference["cases"]![index]!;
        var source = (string)c["template"]!;
        var vars = Reference["vars"]!.AsObject();
        if (c["error"] is { } error)
        {
            var e = Assert.Throws<TemplateException>(() => Render(source, vars));
            Assert.Equal((string)error!, e.Message);
        }
        else Assert.Equal((string)c["text"]!, Render(source, vars));
    }
}
