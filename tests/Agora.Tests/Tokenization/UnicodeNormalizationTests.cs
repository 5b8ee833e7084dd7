using System.Text;
using System.Text.Json;
using Agora.Tokenization;

namespace Agora.Tests.Tokenization;

/// <summary>The managed Unicode normalization against Python's unicodedata (Unicode 14): input, NFC, NFD, NFKC, NFKD.</summary>
public class UnicodeNormalizationTests
{
    const string Expected = """
    [
    ["e\u0301", "\u00e9", "e\u0301", "\u00e9", "e\u0301"],
    ["caf\u00e9", "caf\u00e9", "cafe\u0301", "caf\u00e9", "cafe\u0301"],
    ["\ufb01ne \u2460 \u00bd", "\ufb01ne \u2460 \u00bd", "\ufb01ne \u2460 \u00bd", "fine 1 1\u20442", "fine 1 1\u20442"],
    ["\ud55c\uad6d\uc5b4", "\ud55c\uad6d\uc5b4", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165", "\ud55c\uad6d\uc5b4", "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165"],
    ["e\u0301\u0323", "\u1eb9\u0301", "e\u0323\u0301", "\u1eb9\u0301", "e\u0323\u0301"],
    ["A\u030a\u0301", "\u01fa", "A\u030a\u0301", "\u01fa", "A\u030a\u0301"],
    ["\u1e9b\u0323", "\u1e9b\u0323", "\u017f\u0323\u0307", "\u1e69", "s\u0323\u0307"],
    ["x\u0300\u0315\u0301", "x\u0300\u0301\u0315", "x\u0300\u0301\u0315", "x\u0300\u0301\u0315", "x\u0300\u0301\u0315"],
    ["\u212b\u2126", "\u00c5\u03a9", "A\u030a\u03a9", "\u00c5\u03a9", "A\u030a\u03a9"],
    ["\u0958\u09dc", "\u0915\u093c\u09a1\u09bc", "\u0915\u093c\u09a1\u09bc", "\u0915\u093c\u09a1\u09bc", "\u0915\u093c\u09a1\u09bc"],
    ["\ud835\udc00\u00a0", "\ud835\udc00\u00a0", "\ud835\udc00\u00a0", "A ", "A "],
    ["\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8", "\uac01", "\u1100\u1161\u11a8"],
    ["plain ASCII", "plain ASCII", "plain ASCII", "plain ASCII", "plain ASCII"]
    ]
    """;

    [Fact]
    public void Matches_unicodedata()
    {
        NormalizationForm[] forms = [NormalizationForm.FormC, NormalizationForm.FormD, NormalizationForm.FormKC, NormalizationForm.FormKD];
        foreach (var row in JsonSerializer.Deserialize<string[][]>(Expected)!)
            for (int f = 0; f < 4; f++)
                Assert.True(row[f + 1] == UnicodeNormalization.Normalize(row[0], forms[f]),
                    $"{forms[f]} of {JsonSerializer.Serialize(row[0])}: expected {JsonSerializer.Serialize(row[f + 1])}, got {JsonSerializer.Serialize(UnicodeNormalization.Normalize(row[0], forms[f]))}");
    }

    [Fact]
    public void Qwen3_encodes_decomposed_text_as_composed_text()
    {
        var tok = TokenizerFixtures.Family("qwen3");
        Assert.Equal(tok.Encode("café naïve", false), tok.Encode("cafe\u0301 nai\u0308ve", false));
    }
}
