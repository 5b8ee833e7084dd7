namespace Agora.Formats.HuggingFace;

/// <summary>
/// A config's <c>rope_scaling</c> (or transformers 5's <c>rope_parameters</c>) as written. Only <c>linear</c> and
/// <c>llama3</c> are implemented; other kinds are kept by name and refused when a model config is built from them.
/// </summary>
public sealed record HfRopeScaling(
    string Type,
    double Factor,
    double LowFreqFactor = 0,
    double HighFreqFactor = 0,
    int OriginalMaxPositionEmbeddings = 0);
