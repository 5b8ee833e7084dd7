using System.CommandLine;
using System.Text.Json.Nodes;
using Agora.Formats;
using Agora.Templates;

namespace Agora.Cli.Commands;

/// <summary><c>agora template SOURCE --messages FILE [--add-generation-prompt]</c></summary>
public static class TemplateCommand
{
    public static Command Create(Terminal terminal)
    {
        var source = new Argument<string>("SOURCE") { Description = "A GGUF file, a Hugging Face folder, a tokenizer_config.json or a .jinja file" };
        var messages = new Option<string>("--messages") { Description = "A JSON file holding an array of {\"role\", \"content\"}", Required = true };
        var addGenerationPrompt = new Option<bool>("--add-generation-prompt") { Description = "End with the prompt that starts the assistant's turn" };

        var command = new Command("template", "Render a conversation through the model's chat template")
        {
            source, messages, addGenerationPrompt,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            var template = ChatTemplate.Load(parse.GetValue(source)!);
            var conversation = ReadMessages(parse.GetValue(messages)!);
            terminal.Out.Write(template.Render(new ChatTemplateInput { Messages = conversation, AddGenerationPrompt = parse.GetValue(addGenerationPrompt) }));
            return 0;
        }));
        return command;
    }

    static JsonArray ReadMessages(string path)
    {
        if (!File.Exists(path)) throw new AgoraException($"{path}: no such file");
        if (JsonTree.Parse(File.ReadAllText(path), path) is JsonArray array && array.All(m => m is JsonObject))
            return array;
        throw new AgoraFormatException(path, "expected a JSON array of {\"role\", \"content\"} objects");
    }
}
