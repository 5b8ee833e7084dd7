using System.CommandLine;
using System.Text.Json.Nodes;
using Agora.Templates;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora chat MODEL [--system TEXT] [--lora …]</c>: a conversation through the model's chat template. Each line
/// on stdin is one user message; each reply is streamed, then ends with a newline. Works the same whether stdin is a
/// terminal (with a "> " prompt) or a pipe.
/// </summary>
public static class ChatCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new ModelOptions();
        var sampling = new SamplingFlags(defaultTokens: 512);
        var system = new Option<string?>("--system") { Description = "A system message that opens the conversation" };
        var command = new Command("chat", "Chat with a model through its chat template (one user message per line)") { system };
        model.AddTo(command);
        sampling.AddTo(command);
        command.SetAction(AgoraCli.GuardedAsync(terminal, async (parse, cancellation) =>
        {
            using var lm = model.Load(parse);
            var template = lm.ChatTemplate
                ?? throw new AgoraException($"{lm.Checkpoint.Path}: the model has no chat template; use 'agora generate' for plain text");
            var options = sampling.Options(parse, lm);
            var generator = lm.CreateGenerator(model.Context(parse));
            var messages = new JsonArray();
            if (parse.GetValue(system) is { } systemText)
                messages.Add(Message("system", systemText));

            while (true)
            {
                if (terminal.Interactive)
                {
                    terminal.Out.Write("> ");
                    terminal.Out.Flush();
                }
                var line = terminal.In.ReadLine();
                if (line == null || line.Trim() is "/exit" or "/quit") break;
                if (line.Trim().Length == 0) continue;

                messages.Add(Message("user", line));
                string prompt = template.Render(new ChatTemplateInput { Messages = messages, AddGenerationPrompt = true });
                // The template writes every special token itself (BOS included, where the model wants one).
                var ids = lm.Tokenizer.Encode(prompt, addSpecialTokens: false);
                var stream = generator.GenerateAsync(ids, options, cancellation);
                await foreach (var piece in stream)
                {
                    terminal.Out.Write(piece);
                    terminal.Out.Flush();
                }
                terminal.Out.WriteLine();
                messages.Add(Message("assistant", stream.Result.Text));
            }
            return 0;
        }));
        return command;
    }

    static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };
}
