using System.Collections.Concurrent;
using System.Text.Json;
using Agora.Tokenization;

namespace Agora.Tests.Tokenization;

/// <summary>The reference tokenizers and their cases, each loaded once per test run (gemma3's file is 33 MB).</summary>
static class TokenizerFixtures
{
    public static readonly TheoryData<string> Families = new("llama2", "llama3", "qwen3", "gemma3");

    static readonly ConcurrentDictionary<string, Lazy<Tokenizer>> Loaded = new();

    public static Tokenizer Family(string family)
    {
        var dir = Fixtures.Require("tokenizers", family);
        return Loaded.GetOrAdd(dir, d => new Lazy<Tokenizer>(() => Tokenizer.FromFolder(d))).Value;
    }

    public static Tokenizer Model(string model)
    {
        var dir = Fixtures.Require("models", model, "hf");
        return Loaded.GetOrAdd(dir, d => new Lazy<Tokenizer>(() => Tokenizer.FromFolder(d))).Value;
    }

    public sealed record Case(string Text, int[] Ids, string[] Tokens, int[] IdsWithSpecial, string Decoded);

    public static List<Case> Cases(string family)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Fixtures.Require("tokenizers", family, "cases.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
            c.GetProperty("text").GetString()!,
            c.GetProperty("ids").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("tokens").EnumerateArray().Select(x => x.GetString()!).ToArray(),
            c.GetProperty("ids_with_special").EnumerateArray().Select(x => x.GetInt32()).ToArray(),
            c.GetProperty("decoded").GetString()!)).ToList();
    }

    /// <summary>Collects a line per case where <paramref name="actual"/> differs from <paramref name="expected"/>.</summary>
    public static void AssertAll<T>(IEnumerable<Case> cases, Func<Case, T> expected, Func<Case, T> actual, Func<T, string> show)
    {
        var failures = new List<string>();
        int n = 0;
        foreach (var c in cases)
        {
            n++;
            T e = expected(c), a = actual(c);
            if (show(e) != show(a)) failures.Add($"{JsonSerializer.Serialize(c.Text)}:\n  expected {show(e)}\n  actual   {show(a)}");
        }
        Assert.True(n > 0);
        Assert.True(failures.Count == 0, $"{failures.Count} of {n} cases differ:\n" + string.Join("\n", failures));
    }
}
