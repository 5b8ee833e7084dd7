using System.CommandLine;
using System.Globalization;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora generate MODEL -p PROMPT [-n N] [--temp T] [--top-k K] [--top-p P] [--seed S] [--lora PATH[:SCALE]]…</c>:
/// streams the continuation of a raw prompt (no chat template) to stdout.
/// </summary>
public static class GenerateCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new ModelOptions();
        var sampling = new SamplingFlags(defaultTokens: 128);
        var prompt = new Option<string>("--prompt", "-p") { Description = "The text to continue", Required = true };
        var command = new Command("generate", "Continue a prompt, streaming the text as it is generated") { prompt };
        model.AddTo(command);
        sampling.AddTo(command);
        command.SetAction(AgoraCli.GuardedAsync(terminal, async (parse, cancellation) =>
        {
            using var lm = model.Load(parse);
            var options = sampling.Options(parse, lm);
            var generator = lm.CreateGenerator(model.Context(parse));
            var stream = generator.GenerateAsync(parse.GetValue(prompt)!, options, cancellation);
            bool endsWithNewline = true;
            await foreach (var piece in stream)
            {
                terminal.Out.Write(piece);
                terminal.Out.Flush();
                if (piece.Length > 0) endsWithNewline = piece[^1] == '\n';
            }
            if (terminal.Interactive && !endsWithNewline) terminal.Out.WriteLine();
            if (parse.GetValue(AgoraCli.Verbose))
            {
                var r = stream.Result;
                if (!endsWithNewline && !terminal.Interactive) terminal.Err.WriteLine();
                terminal.Err.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"prompt: {r.PromptTokensEvaluated} tokens, {r.PrefillTokensPerSecond:F1} tokens/s; generated: {r.TokenIds.Count} tokens, {r.DecodeTokensPerSecond:F1} tokens/s; stop: {r.StopReason}; seed {r.Seed}"));
            }
            return 0;
        }));
        return command;
    }
}
