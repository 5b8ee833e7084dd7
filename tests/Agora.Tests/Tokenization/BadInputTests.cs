using System.Text;
using System.Text.Json.Nodes;
using Agora.Tokenization;

namespace Agora.Tests.Tokenization;

/// <summary>Broken or unsupported tokenizer files give one AgoraFormatException naming the file and the problem.</summary>
public sealed class BadInputTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("agora-tok-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static string SmallJson() => File.ReadAllText(Fixtures.Require("models", "llama-a", "hf", "tokenizer.json"));

    string Write(string content, string name = "tokenizer.json")
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, content);
        return path;
    }

    AgoraFormatException Refused(string content, string expectedInMessage)
    {
        var path = Write(content);
        var e = Assert.Throws<AgoraFormatException>(() => Tokenizer.FromFile(path));
        Assert.Equal(path, e.Path);
        Assert.Contains(path, e.Message);
        Assert.Contains(expectedInMessage, e.Message);
        return e;
    }

    static string Edit(Action<JsonNode> edit)
    {
        var node = JsonNode.Parse(SmallJson())!;
        edit(node);
        return node.ToJsonString();
    }

    [Fact] public void Not_json() => Refused("this is not json", "not valid JSON");
    [Fact] public void Truncated() => Refused(SmallJson()[..(SmallJson().Length / 2)], "not valid JSON");
    [Fact] public void Not_an_object() => Refused("[1, 2, 3]", "not an object");
    [Fact] public void No_model() => Refused("{}", "\"model\" is missing");

    [Theory]
    [InlineData("Unigram")]
    [InlineData("WordPiece")]
    [InlineData("WordLevel")]
    public void Unsupported_model_kinds_are_named(string kind) =>
        Refused(Edit(n => n["model"]!["type"] = kind), $"model type {kind} is not supported");

    [Fact] public void Vocab_of_the_wrong_shape() => Refused(Edit(n => n["model"]!["vocab"] = new JsonArray(1, 2)), "model.vocab is not an object");
    [Fact] public void Vocab_id_out_of_range() => Refused(Edit(n => n["model"]!["vocab"]!["Ġt"] = 100000), "has id 100000");
    [Fact] public void Negative_vocab_id() => Refused(Edit(n => n["model"]!["vocab"]!["Ġt"] = -4), "out of range");
    [Fact] public void Merge_naming_an_unknown_token() => Refused(Edit(n => n["model"]!["merges"]![0] = new JsonArray("Ġ", "nope")), "\"nope\", which is not in the vocabulary");
    [Fact] public void Merge_string_with_three_parts() => Refused(Edit(n => n["model"]!["merges"]![0] = "a b c"), "not two tokens");
    [Fact] public void Added_token_id_far_out_of_range() => Refused(Edit(n => n["added_tokens"]![0]!["id"] = 9_000_000), "far beyond");
    [Fact] public void Unsupported_normalizer() => Refused(Edit(n => n["normalizer"] = new JsonObject { ["type"] = "Precompiled" }), "normalizer type \"Precompiled\" is not supported");
    [Fact] public void Unsupported_decoder() => Refused(Edit(n => n["decoder"] = new JsonObject { ["type"] = "CTC" }), "decoder type \"CTC\" is not supported");
    [Fact] public void Bad_regex() => Refused(Edit(n => n["pre_tokenizer"] = JsonNode.Parse("""{"type":"Split","pattern":{"Regex":"(unclosed"},"behavior":"Isolated","invert":false}""")), "does not compile");
    [Fact] public void Unknown_split_behaviour() => Refused(Edit(n => n["pre_tokenizer"] = JsonNode.Parse("""{"type":"Split","pattern":{"String":" "},"behavior":"Sideways","invert":false}""")), "split behaviour \"Sideways\"");
    [Fact] public void Template_id_out_of_range() => Refused(Edit(n => n["post_processor"]!["special_tokens"]!["<|endoftext|>"]!["ids"]![0] = 5000), "id 5000 is outside the vocabulary");
    [Fact] public void Dropout_is_refused() => Refused(Edit(n => n["model"]!["dropout"] = 0.1), "dropout");

    [Fact]
    public void Bad_config_is_named()
    {
        var json = Write(SmallJson());
        var config = Write("""{"bos_token": "<never-seen>"}""", "tokenizer_config.json");
        var e = Assert.Throws<AgoraFormatException>(() => Tokenizer.FromFile(json, config));
        Assert.Equal(config, e.Path);
        Assert.Contains("<never-seen>", e.Message);
    }

    [Fact]
    public void Missing_files_are_plain_errors()
    {
        Assert.Throws<AgoraException>(() => Tokenizer.FromFile(Path.Combine(_dir, "absent.json")));
        Assert.Throws<AgoraException>(() => Tokenizer.FromFolder(_dir));
    }

    /// <summary>Truncations and random byte edits of a small tokenizer.json: every one loads (and then encodes and
    /// decodes without crashing) or throws exactly AgoraFormatException.</summary>
    [Fact]
    public void Mutated_files_load_or_throw_a_format_error()
    {
        var original = Encoding.UTF8.GetBytes(SmallJson());
        var rng = new Random(20261126);
        var path = Path.Combine(_dir, "tokenizer.json");
        int loaded = 0, refused = 0;
        const string Punctuation = "0123456789-\"{}[],:";
        const string sample = "Hello <|im_start|>world 🦙\n  42!";
        for (int round = 0; round < 400; round++)
        {
            byte[] bytes;
            if (round % 4 == 0) bytes = original[..rng.Next(original.Length)];
            else
            {
                bytes = (byte[])original.Clone();
                for (int k = rng.Next(1, 4); k > 0; k--)
                {
                    int at = rng.Next(bytes.Length);
                    bytes[at] = rng.Next(3) switch
                    {
                        0 => (byte)rng.Next(256),
                        1 => (byte)Punctuation[rng.Next(Punctuation.Length)],
                        _ => (byte)(bytes[at] ^ (1 << rng.Next(8))),
                    };
                }
            }
            File.WriteAllBytes(path, bytes);
            Tokenizer tok;
            try { tok = Tokenizer.FromFile(path); }
            catch (Exception e)
            {
                Assert.True(e.GetType() == typeof(AgoraFormatException), $"round {round}: {e}");
                refused++;
                continue;
            }
            loaded++;
            try
            {
                var ids = tok.Encode(sample);
                tok.Decode(ids);
            }
            catch (AgoraException) { }
        }
        Assert.True(loaded > 0 && refused > 0, $"loaded {loaded}, refused {refused}");
    }
}
