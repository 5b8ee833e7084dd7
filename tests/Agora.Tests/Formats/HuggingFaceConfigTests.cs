using Agora.Formats.Checkpoint;
using Agora.Formats.HuggingFace;

namespace Agora.Tests.Formats;

public class HuggingFaceConfigTests
{
    static HfConfig Fixture(string model) => HfConfig.Load(Fixtures.Require("models", model, "hf", "config.json"));

    [Fact]
    public void LlamaFixture()
    {
        var c = Fixture("llama-a");
        Assert.Equal("llama", c.ModelType);
        Assert.Equal(["LlamaForCausalLM"], c.Architectures);
        Assert.Equal((256, 768, 2, 8, 4, 32, 512, 512), (c.HiddenSize, c.IntermediateSize, c.LayerCount, c.HeadCount, c.KvHeadCount, c.HeadDim, c.VocabSize, c.MaxPositionEmbeddings!.Value));
        Assert.Equal(1e-5, c.NormEpsilon);
        Assert.Equal(10000, c.RopeTheta);
        Assert.Null(c.RopeScaling);
        Assert.False(c.TieWordEmbeddings);
        Assert.False(c.QkvBias || c.OutputBias || c.MlpBias);
        Assert.Equal([0], c.BosTokenIds);
        Assert.Equal([2], c.EosTokenIds);
        Assert.Equal(0, c.PadTokenId);
        Assert.Equal("float32", c.TorchDtype);
        Assert.Null(c.SlidingWindow);
    }

    [Fact]
    public void Qwen2Fixture()
    {
        var c = Fixture("qwen2-a");
        Assert.Equal((128, 384, 2, 8, 2, 16, 512), (c.HiddenSize, c.IntermediateSize, c.LayerCount, c.HeadCount, c.KvHeadCount, c.HeadDim, c.VocabSize));
        Assert.Equal(1e6, c.RopeTheta);
        Assert.Equal(1e-6, c.NormEpsilon);
        Assert.True(c.TieWordEmbeddings);
        Assert.True(c.QkvBias);
        Assert.False(c.OutputBias || c.MlpBias);
        Assert.Null(c.SlidingWindow); // use_sliding_window is false
    }

    [Fact]
    public void BloomFixture()
    {
        var c = Fixture("bloom-a");
        Assert.Equal((128, 512, 2, 8, 8, 16, 512), (c.HiddenSize, c.IntermediateSize, c.LayerCount, c.HeadCount, c.KvHeadCount, c.HeadDim, c.VocabSize));
        Assert.Null(c.MaxPositionEmbeddings);
        Assert.Equal(1e-5, c.NormEpsilon);
        Assert.True(c.TieWordEmbeddings);
        Assert.True(c.QkvBias && c.OutputBias && c.MlpBias);
    }

    [Fact]
    public void KjvFixture()
    {
        var c = Fixture("kjv-llama");
        Assert.Equal((256, 6, 4096), (c.HiddenSize, c.LayerCount, c.VocabSize));
        Assert.True(c.TieWordEmbeddings);
        Assert.Equal([0], c.EosTokenIds);
    }

    [Fact]
    public void GenerationConfigFixture()
    {
        var g = GenerationConfig.Load(Fixtures.Require("models", "llama-a", "hf", "generation_config.json"));
        Assert.Equal([0], g.BosTokenIds);
        Assert.Equal([2], g.EosTokenIds);
        Assert.Equal([0], g.PadTokenIds);
        Assert.False(g.DoSample);
        Assert.Equal((1.0, 50, 1.0, 1.0), (g.Temperature, g.TopK, g.TopP, g.RepetitionPenalty));
        Assert.Null(g.MaxNewTokens);
    }

    [Fact]
    public void GenerationConfigSettingsAndIdLists()
    {
        var g = GenerationConfig.Parse("""
            {"bos_token_id": 128000, "eos_token_id": [128001, 128008, 128009], "do_sample": true,
             "temperature": 0.6, "top_p": 0.9, "top_k": 20, "repetition_penalty": 1.1, "max_new_tokens": 256, "min_p": 0.05}
            """);
        Assert.Equal([128001, 128008, 128009], g.EosTokenIds);
        Assert.True(g.DoSample);
        Assert.Equal((0.6, 20, 0.9, 1.1, 256), (g.Temperature, g.TopK, g.TopP, g.RepetitionPenalty, g.MaxNewTokens!.Value));
        Assert.Equal(0.05, g.MinP);
        Assert.Contains("top_p", Assert.Throws<AgoraFormatException>(() => GenerationConfig.Parse("""{"top_p": 1.5}""")).Message);
        Assert.Contains("eos_token_id", Assert.Throws<AgoraFormatException>(() => GenerationConfig.Parse("""{"eos_token_id": "x"}""")).Message);
    }

    [Fact]
    public void MistralDefaults()
    {
        var c = HfConfig.Parse("""
            {"model_type": "mistral", "hidden_size": 4096, "intermediate_size": 14336, "num_hidden_layers": 32,
             "num_attention_heads": 32, "num_key_value_heads": 8, "vocab_size": 32768, "rms_norm_eps": 1e-05,
             "rope_theta": 1000000.0, "max_position_embeddings": 32768, "eos_token_id": 2}
            """);
        Assert.Equal(128, c.HeadDim);
        Assert.Equal(4096, c.SlidingWindow);
        Assert.False(c.TieWordEmbeddings);
        Assert.False(c.QkvBias);
        var m = ModelConfig.FromHf(c);
        Assert.Equal(ModelArchitecture.Llama, m.Architecture);
        Assert.Equal(1e6f, m.RopeTheta);

        var noWindow = HfConfig.Parse("""{"model_type": "mistral", "sliding_window": null}""");
        Assert.Null(noWindow.SlidingWindow);
        Assert.Equal(8, noWindow.KvHeadCount);
    }

    [Fact]
    public void LlamaDefaultsWhenFieldsAreMissing()
    {
        var c = HfConfig.Parse("""{"model_type": "llama", "num_attention_heads": 16, "hidden_size": 1024}""");
        Assert.Equal(16, c.KvHeadCount);
        Assert.Equal(64, c.HeadDim);
        Assert.Equal(10000, c.RopeTheta);
        Assert.Equal(1e-6, c.NormEpsilon);
        Assert.Equal(2048, c.MaxPositionEmbeddings);
        Assert.False(c.TieWordEmbeddings);
        Assert.Empty(c.EosTokenIds);
    }

    [Fact]
    public void Llama3RopeScaling()
    {
        var c = HfConfig.Parse("""
            {"model_type": "llama", "hidden_size": 2048, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64,
             "rope_theta": 500000.0, "tie_word_embeddings": true, "eos_token_id": [128001, 128008],
             "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                              "original_max_position_embeddings": 8192, "rope_type": "llama3"}}
            """);
        Assert.Equal(new HfRopeScaling("llama3", 32, 1, 4, 8192), c.RopeScaling);
        var m = ModelConfig.FromHf(c);
        Assert.Equal(new RopeScaling(RopeScalingKind.Llama3, 32, 1, 4, 8192), m.RopeScaling);
        var factors = m.RopeScaling!.Llama3FrequencyFactors(64, m.RopeTheta);
        Assert.Equal(32, factors.Length);
        Assert.Equal(1f, factors[0]);   // shortest wavelength: unscaled
        Assert.Equal(32f, factors[^1]); // longest: divided by the full factor
        Assert.True(factors.Zip(factors.Skip(1)).All(p => p.First <= p.Second));
    }

    [Theory]
    [InlineData("type")]
    [InlineData("rope_type")]
    public void LinearRopeScalingUnderEitherKey(string key)
    {
        var c = HfConfig.Parse("""{"model_type": "llama", "rope_scaling": {"KEY": "linear", "factor": 4.0}}""".Replace("KEY", key));
        Assert.Equal(new HfRopeScaling("linear", 4), c.RopeScaling);
        Assert.Equal(new RopeScaling(RopeScalingKind.Linear, 4), ModelConfig.FromHf(c).RopeScaling);
    }

    [Fact]
    public void Transformers5RopeParameters()
    {
        var c = HfConfig.Parse("""{"model_type": "llama", "rope_parameters": {"rope_type": "default", "rope_theta": 500000.0}}""");
        Assert.Equal(500000, c.RopeTheta);
        Assert.Null(c.RopeScaling);
    }

    [Fact]
    public void UnsupportedRopeScalingIsRefusedWhenUsed()
    {
        var c = HfConfig.Parse("""{"model_type": "qwen2", "rope_scaling": {"type": "yarn", "factor": 4.0}}""");
        Assert.Equal("yarn", c.RopeScaling!.Type);
        Assert.Contains("'yarn'", Assert.Throws<AgoraFormatException>(() => ModelConfig.FromHf(c)).Message);
    }

    [Fact]
    public void BloomKeyNamesAndDefaults()
    {
        var c = HfConfig.Parse("""{"model_type": "bloom", "n_embed": 1024, "num_hidden_layers": 24, "num_attention_heads": 16}""");
        Assert.Equal((1024, 4096, 24, 16, 16, 64), (c.HiddenSize, c.IntermediateSize, c.LayerCount, c.HeadCount, c.KvHeadCount, c.HeadDim));
        Assert.Equal(250880, c.VocabSize);
        Assert.Equal(1e-5, c.NormEpsilon);
        Assert.True(c.TieWordEmbeddings);
        var m = ModelConfig.FromHf(c);
        Assert.True(m.UsesAlibi && m.EmbeddingNorm && !m.UsesRmsNorm && !m.UsesGatedMlp);
        Assert.Equal(0, m.RopeTheta);
    }

    [Theory]
    [InlineData("""{"model_type": "gpt2"}""", "model_type 'gpt2'")]
    [InlineData("""{"hidden_size": 8}""", "'model_type' is missing")]
    [InlineData("""{"model_type": "llama", "hidden_size": "big"}""", "'hidden_size' is string")]
    [InlineData("""{"model_type": "llama", "hidden_size": -4}""", "'hidden_size' is -4")]
    [InlineData("""{"model_type": "llama", "hidden_size": 1000, "num_attention_heads": 3}""", "not a multiple")]
    [InlineData("""{"model_type": "llama", "num_attention_heads": 8, "num_key_value_heads": 3}""", "does not divide")]
    [InlineData("""{"model_type": "llama", "rms_norm_eps": 0}""", "'rms_norm_eps' is 0")]
    [InlineData("""{"model_type": "llama", "rope_scaling": {"rope_type": "linear"}}""", "'rope_scaling.factor' is missing")]
    [InlineData("""{"model_type": "llama", "rope_scaling": {"rope_type": "llama3", "factor": 8}}""", "low_freq_factor")]
    [InlineData("""{"model_type": "llama", "rope_scaling": 3}""", "'rope_scaling' is number")]
    [InlineData("""{"model_type": "llama", "tie_word_embeddings": 1}""", "expected true or false")]
    [InlineData("""{"model_type": "llama", "eos_token_id": [1, -2]}""", "'eos_token_id' holds")]
    [InlineData("""[1, 2]""", "expected a JSON object")]
    [InlineData("""{"model_type": """, "not valid JSON")]
    public void BadConfigsAreRefusedByName(string json, string expected)
    {
        var e = Assert.Throws<AgoraFormatException>(() => HfConfig.Parse(json, "x/config.json"));
        Assert.Contains(expected, e.Message);
        Assert.StartsWith("x/config.json", e.Message);
    }

    [Fact]
    public void NonSiluLlamaIsRefusedForTheEngine()
    {
        var c = HfConfig.Parse("""{"model_type": "llama", "hidden_act": "gelu"}""");
        Assert.Contains("hidden_act 'gelu'", Assert.Throws<AgoraFormatException>(() => ModelConfig.FromHf(c)).Message);
    }
}
