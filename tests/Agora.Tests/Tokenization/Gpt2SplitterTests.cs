using System.Text;
using System.Text.RegularExpressions;
using Agora.Tokenization;

namespace Agora.Tests.Tokenization;

/// <summary>The hand-written pre-tokenizer splitter against the regex it replaces.</summary>
public class Gpt2SplitterTests
{
    public static readonly TheoryData<string> Patterns = new(Gpt2Splitter.Gpt2Pattern, Gpt2Splitter.Llama3Pattern, Gpt2Splitter.Qwen2Pattern);

    static List<(int, int)> ByRegex(Regex regex, string text)
    {
        var list = new List<(int, int)>();
        foreach (var m in regex.EnumerateMatches(text)) list.Add((m.Index, m.Length));
        return list;
    }

    static List<(int, int)> BySplitter(string pattern, string text)
    {
        var list = new List<(int, int)>();
        Gpt2Splitter.For(pattern)!.Matches(text, list);
        return list;
    }

    // .NET's regex sees UTF-16 code units, so supplementary characters (where the splitter, like Oniguruma, sees
    // code points) are left out here; the reference cases cover them against Hugging Face itself.
    static readonly string[] Alphabet =
    [
        "a", "Z", "q", "é", "ß", "Ж", "я", "中", "ひ", "ק", "ع", "ก", "\u0301", "\u0903", "0", "7", "٣", "Ⅻ", "²", "½",
        " ", " ", " ", "\t", "\n", "\r", "\r\n", "\u00A0", "\u2003", "\u3000", "\u200B", "\u0085", "\v", "\f",
        "'", "'s", "'S", "'t", "'re", "'RE", "'Ve", "'m", "'ll", "'LL", "'d", "'x", "’", "!", ".", ",", "-", "_", "(",
        "$", "+", "<", "|", "€", "©", "—", "…", "\u2028",
    ];

    static string RandomText(Random rng)
    {
        var sb = new StringBuilder();
        int n = rng.Next(1, 40);
        for (int i = 0; i < n; i++) sb.Append(Alphabet[rng.Next(Alphabet.Length)]);
        return sb.ToString();
    }

    [Theory, MemberData(nameof(Patterns))]
    public void Splits_random_text_exactly_as_the_regex(string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var rng = new Random(42);
        for (int i = 0; i < 20_000; i++)
        {
            var text = RandomText(rng);
            var expected = ByRegex(regex, text);
            var actual = BySplitter(pattern, text);
            Assert.True(expected.SequenceEqual(actual), $"{System.Text.Json.JsonSerializer.Serialize(text)}: regex {string.Join(",", expected)} vs {string.Join(",", actual)}");
        }
    }

    [Theory, MemberData(nameof(Patterns))]
    public void Splits_fixture_text_exactly_as_the_regex(string pattern)
    {
        var regex = new Regex(pattern, RegexOptions.CultureInvariant);
        var texts = new List<string> { File.ReadAllText(Fixtures.Require("text", "kjv-heldout.txt")) };
        foreach (var family in new[] { "llama2", "llama3", "qwen3", "gemma3" })
            texts.AddRange(TokenizerFixtures.Cases(family).Select(c => c.Text).Where(t => !t.Any(char.IsSurrogate)));
        foreach (var text in texts)
            Assert.Equal(ByRegex(regex, text), BySplitter(pattern, text));
    }

    [Fact]
    public void Letters_outside_the_BMP_are_letters()
    {
        // U+1D400 MATHEMATICAL BOLD CAPITAL A is \p{L} for Oniguruma (and Hugging Face), not for .NET's UTF-16 regex.
        Assert.Equal([(0, 5)], BySplitter(Gpt2Splitter.Gpt2Pattern, " 𝐀𝐁"));
        Assert.Equal([(0, 4)], BySplitter(Gpt2Splitter.Llama3Pattern, "🦙ab"));
    }

    [Theory]
    [InlineData(@"\p{L}++|\s?+x", @"(?>\p{L}+)|(?>\s?)x")]
    [InlineData(@"[^\s\p{L}]*+(?i:'s)", @"(?>[^\s\p{L}]*)(?i:'s)")]
    [InlineData(@"(ab)++c", @"(?>(ab)+)c")]
    [InlineData(@"a+?b", @"a+?b")]
    public void Possessive_quantifiers_become_atomic_groups(string oniguruma, string dotnet) =>
        Assert.Equal(dotnet, OnigurumaRegex.Translate(oniguruma));

    [Theory]
    [InlineData(@" ?[^(\s|[.,!?…。，、।۔،])]+", @" ?[^(\s|.,!?…。，、।۔،)]+")]
    [InlineData(@"[a[b-d]e]", @"[ab-de]")]
    [InlineData(@"[[\]]x]", @"[\]x]")]
    [InlineData(@"[\[a]", @"[\[a]")]
    public void Nested_classes_are_flattened(string oniguruma, string dotnet) =>
        Assert.Equal(dotnet, OnigurumaRegex.Translate(oniguruma));

    [Fact]
    // The class also holds "(", "|" and ")" literally, so BLOOM never puts them in a split.
    public void Blooms_real_split_pattern_compiles_and_splits_as_oniguruma_does()
    {
        var regex = OnigurumaRegex.Create(@" ?[^(\s|[.,!?…。，、।۔،])]+");
        Assert.Equal(["Hello", " world", "yes", "no"], regex.Matches("Hello, world. (yes|no)").Select(m => m.Value));
    }

    [Fact]
    public void A_nested_negated_class_is_refused() =>
        Assert.Throws<ArgumentException>(() => OnigurumaRegex.Translate("[a[^b]]"));
}
