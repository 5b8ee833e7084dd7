using System.Text;
using System.Text.Json;

namespace Agora.Inference.Scoring;

/// <summary>One continuation token: its natural-log probability and whether it was the model's argmax.</summary>
public sealed record TokenScore(int Id, double LogProb, bool IsGreedy);

/// <summary>
/// The log-likelihood of a continuation given a context, as lm-evaluation-harness's <c>loglikelihood</c>
/// returns it: the sum of the tokens' log-probabilities, and whether every token was the argmax.
/// </summary>
public sealed record ContinuationScore(IReadOnlyList<int> ContextIds, IReadOnlyList<TokenScore> Tokens)
{
    public double TotalLogProb => Tokens.Sum(t => t.LogProb);
    public bool IsGreedy => Tokens.All(t => t.IsGreedy);

    /// <summary>
    /// <c>{"tokens":[{"id":…,"logprob":…,"is_greedy":…}],"total_logprob":…,"is_greedy":…}</c>, numbers in their
    /// shortest round-trip form; a probability of exactly zero is written -Infinity, as Python's json does.
    /// </summary>
    public string ToJson()
    {
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("tokens");
            foreach (var token in Tokens)
            {
                json.WriteStartObject();
                json.WriteNumber("id", token.Id);
                json.WritePropertyName("logprob");
                WriteNumber(json, token.LogProb);
                json.WriteBoolean("is_greedy", token.IsGreedy);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WritePropertyName("total_logprob");
            WriteNumber(json, TotalLogProb);
            json.WriteBoolean("is_greedy", IsGreedy);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
    }

    static void WriteNumber(Utf8JsonWriter json, double value)
    {
        if (double.IsNegativeInfinity(value)) json.WriteRawValue("-Infinity", skipInputValidation: true);
        else json.WriteNumberValue(value);
    }
}
