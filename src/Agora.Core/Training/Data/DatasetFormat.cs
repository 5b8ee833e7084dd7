namespace Agora.Training.Data;

/// <summary>
/// The record shapes a training file may hold: Alpaca (instruction / input / output), ShareGPT (conversations of
/// from / value), OpenAI messages (role / content), and pre-tokenized input_ids / labels.
/// </summary>
public enum DatasetFormat { Alpaca, ShareGpt, Messages, Tokens }

public static class DatasetFormats
{
    public static DatasetFormat Parse(string name) => name.ToLowerInvariant() switch
    {
        "alpaca" => DatasetFormat.Alpaca,
        "sharegpt" => DatasetFormat.ShareGpt,
        "messages" or "openai" => DatasetFormat.Messages,
        "tokens" => DatasetFormat.Tokens,
        _ => throw new AgoraException($"unknown data format '{name}' (expected alpaca, sharegpt, messages or tokens)"),
    };

    public static string Name(DatasetFormat format) => format switch
    {
        DatasetFormat.Alpaca => "alpaca",
        DatasetFormat.ShareGpt => "sharegpt",
        DatasetFormat.Messages => "messages",
        _ => "tokens",
    };
}
