using Agora.Formats.Checkpoint;
using Agora.Formats.Gguf;
using Agora.Tokenization.Gguf;

namespace Agora.Tokenization;

/// <summary>Opens the tokenizer of whatever the user pointed at: a GGUF file, a tokenizer.json, or a Hugging Face folder.</summary>
public static class TokenizerSource
{
    public static ITokenizer Load(string path)
    {
        if (Directory.Exists(path)) return Tokenizer.FromFolder(path);
        if (!File.Exists(path)) throw new AgoraException($"{path}: no such file or folder");
        if (GgufFile.HasMagic(path))
        {
            using var gguf = GgufFile.Open(path);
            return GgufTokenizerLoader.Load(gguf);
        }
        // A tokenizer.json sitting in a Hugging Face folder is read with its tokenizer_config.json, as transformers does.
        var config = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, "tokenizer_config.json");
        return Tokenizer.FromFile(path, File.Exists(config) ? config : null);
    }

    /// <summary>The tokenizer that came with a checkpoint: its GGUF vocabulary, or its folder's tokenizer.json.</summary>
    public static ITokenizer Load(Checkpoint checkpoint) =>
        checkpoint.Gguf is { } gguf ? GgufTokenizerLoader.Load(gguf) : Tokenizer.FromFolder(checkpoint.Path);
}
