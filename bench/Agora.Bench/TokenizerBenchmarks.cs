using Agora.Tokenization;
using BenchmarkDotNet.Attributes;

namespace Agora.Bench;

/// <summary>llama3 encoding of English prose, steady state (warm piece cache) — the inference-time case.</summary>
[MemoryDiagnoser]
public class TokenizerBenchmarks
{
    Tokenizer _tok = null!;
    string _text = "";
    readonly List<int> _ids = new();

    [GlobalSetup]
    public void Setup()
    {
        _tok = Tokenizer.FromFile(BenchFixtures.Path("tokenizers", "llama3", "tokenizer.json"));
        _text = BenchFixtures.Prose(1 << 20);
    }

    [Benchmark]
    public int EncodeLlama3Prose()
    {
        _ids.Clear();
        _tok.Encode(_text, _ids, addSpecialTokens: false);
        return _ids.Count;
    }
}
