using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Nodes;
using Agora.Formats;
using Agora.Tokenization;

namespace Agora.Cli.Commands;

/// <summary><c>agora tokenize SOURCE (--text TEXT | --text-file FILE | --batch) [--no-special] [--json]</c></summary>
public static class TokenizeCommand
{
    public static Command Create(Terminal terminal)
    {
        var source = new Argument<string>("SOURCE") { Description = "A GGUF file, a tokenizer.json, or a Hugging Face folder" };
        var text = new Option<string?>("--text") { Description = "The text to tokenize" };
        var textFile = new Option<string?>("--text-file") { Description = "A UTF-8 file whose whole content is tokenized" };
        var batch = new Option<bool>("--batch") { Description = "Read JSON lines {\"text\": …} on stdin; write one {\"ids\": […]} line per input" };
        var noSpecial = new Option<bool>("--no-special") { Description = "Do not add BOS/EOS or other special tokens" };
        var json = new Option<bool>("--json") { Description = "Print {\"ids\":[…],\"tokens\":[…]}" };

        var command = new Command("tokenize", "Turn text into token ids exactly as the model's own tokenizer does")
        {
            source, text, textFile, batch, noSpecial, json,
        };
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            int inputs = (parse.GetValue(text) != null ? 1 : 0) + (parse.GetValue(textFile) != null ? 1 : 0) + (parse.GetValue(batch) ? 1 : 0);
            if (inputs != 1)
                throw new AgoraException("tokenize needs exactly one of --text, --text-file or --batch");
            var tokenizer = TokenizerSource.Load(parse.GetValue(source)!);
            bool addSpecial = !parse.GetValue(noSpecial);

            if (parse.GetValue(batch))
                return RunBatch(tokenizer, addSpecial, terminal);

            string input = parse.GetValue(text) ?? ReadTextFile(parse.GetValue(textFile)!);
            int[] ids = tokenizer.Encode(input, addSpecial);
            if (parse.GetValue(json))
            {
                var result = new JsonObject
                {
                    ["ids"] = new JsonArray(ids.Select(id => (JsonNode)id).ToArray()),
                    ["tokens"] = new JsonArray(ids.Select(id => (JsonNode)tokenizer.TokenText(id)!).ToArray()),
                };
                terminal.Out.WriteLine(result.ToJsonString(CliJson.Options));
            }
            else
            {
                foreach (int id in ids)
                    terminal.Out.WriteLine($"{id,7} -> {JsonSerializer.Serialize(tokenizer.TokenText(id), CliJson.Options)}");
            }
            return 0;
        }));
        return command;
    }

    static string ReadTextFile(string path)
    {
        if (!File.Exists(path)) throw new AgoraException($"{path}: no such file");
        return File.ReadAllText(path);
    }

    static int RunBatch(ITokenizer tokenizer, bool addSpecial, Terminal terminal)
    {
        var ids = new List<int>();
        int lineNumber = 0;
        string? line;
        while ((line = terminal.In.ReadLine()) != null)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            string input = ParseBatchLine(line, lineNumber);
            ids.Clear();
            tokenizer.Encode(input, ids, addSpecial);
            terminal.Out.Write("{\"ids\":[");
            for (int i = 0; i < ids.Count; i++)
            {
                if (i > 0) terminal.Out.Write(',');
                terminal.Out.Write(ids[i]);
            }
            terminal.Out.WriteLine("]}");
        }
        return 0;
    }

    static string ParseBatchLine(string line, int lineNumber)
    {
        if (JsonTree.Parse(line, $"stdin line {lineNumber}") is JsonObject obj && obj["text"] is JsonValue value && value.TryGetValue(out string? s))
            return s;
        throw new AgoraException($"stdin line {lineNumber}: expected an object with a string \"text\"");
    }
}
