using System.CommandLine;
using System.Globalization;

namespace Agora.Cli.Commands;

/// <summary>
/// <c>agora score MODEL (--context TEXT | --context-ids 1,2,3) (--continuation TEXT | --continuation-ids 4,5) [--lora …] [--json]</c>:
/// the log-likelihood of the continuation given the context, as lm-evaluation-harness asks for it.
/// </summary>
public static class ScoreCommand
{
    public static Command Create(Terminal terminal)
    {
        var model = new ModelOptions();
        var context = new Option<string?>("--context") { Description = "The context text (BOS first if the tokenizer asks for it)" };
        var contextIds = new Option<string?>("--context-ids") { Description = "The context as comma-separated token ids, used as given (no BOS added)" };
        var continuation = new Option<string?>("--continuation") { Description = "The continuation text" };
        var continuationIds = new Option<string?>("--continuation-ids") { Description = "The continuation as comma-separated token ids" };
        var json = new Option<bool>("--json") { Description = "Print {\"tokens\":[{\"id\",\"logprob\",\"is_greedy\"}],\"total_logprob\",\"is_greedy\"}" };
        var command = new Command("score", "Log-likelihood of a continuation given a context (natural log)")
        {
            context, contextIds, continuation, continuationIds, json,
        };
        model.AddTo(command);
        command.SetAction(AgoraCli.Guarded(terminal, parse =>
        {
            string? contextText = parse.GetValue(context), contextList = parse.GetValue(contextIds);
            string? continuationText = parse.GetValue(continuation), continuationList = parse.GetValue(continuationIds);
            if ((contextText == null) == (contextList == null))
                throw new AgoraException("score needs exactly one of --context or --context-ids");
            if ((continuationText == null) == (continuationList == null))
                throw new AgoraException("score needs exactly one of --continuation or --continuation-ids");

            using var lm = model.Load(parse);
            var scorer = lm.CreateScorer(model.Context(parse));
            var score = contextText != null && continuationText != null
                ? scorer.Score(contextText, continuationText)
                : scorer.Score(
                    contextList != null ? ParseIds(contextList, "--context-ids") : scorer.EncodeContext(contextText!),
                    continuationList != null ? ParseIds(continuationList, "--continuation-ids") : lm.Tokenizer.Encode(continuationText!, addSpecialTokens: false));

            if (parse.GetValue(json))
            {
                terminal.Out.WriteLine(score.ToJson());
                return 0;
            }
            var o = terminal.Out;
            o.WriteLine($"{"id",7}  {"logprob",12}  greedy  token");
            foreach (var t in score.Tokens)
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{t.Id,7}  {t.LogProb,12:F6}  {(t.IsGreedy ? "yes" : "no"),-6}  {System.Text.Json.JsonSerializer.Serialize(lm.Tokenizer.TokenText(t.Id), CliJson.Options)}"));
            o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"total logprob {score.TotalLogProb:F6} over {score.Tokens.Count} tokens; greedy: {(score.IsGreedy ? "yes" : "no")}"));
            return 0;
        }));
        return command;
    }

    static int[] ParseIds(string text, string flag)
    {
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var ids = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], NumberStyles.None, CultureInfo.InvariantCulture, out ids[i]))
                throw new AgoraException($"{flag}: '{parts[i]}' is not a token id (expected comma-separated non-negative integers)");
        return ids;
    }
}
