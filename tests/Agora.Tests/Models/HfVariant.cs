using System.Text.Json.Nodes;

namespace Agora.Tests.Models;

/// <summary>
/// A fixture's Hugging Face folder with an edited config.json, in a temporary folder (deleted on dispose); the
/// weights are linked, not copied.
/// </summary>
public sealed class HfVariant : IDisposable
{
    public string Folder { get; } = Directory.CreateTempSubdirectory("agora-model-").FullName;

    public HfVariant(string model, Action<JsonNode> editConfig)
    {
        var source = Fixtures.Require("models", model, "hf");
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(source, "config.json")))!;
        editConfig(config);
        File.WriteAllText(Path.Combine(Folder, "config.json"), config.ToJsonString());
        File.CreateSymbolicLink(Path.Combine(Folder, "model.safetensors"), Path.Combine(source, "model.safetensors"));
    }

    public void Dispose() => Directory.Delete(Folder, recursive: true);
}
