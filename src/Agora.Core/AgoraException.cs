namespace Agora;

/// <summary>
/// A problem the user can act on: a bad file, a bad argument, an unsupported feature.
/// The message is complete and readable on its own; the CLI prints it and exits non-zero, without a stack trace.
/// </summary>
public class AgoraException : Exception
{
    public AgoraException(string message) : base(message) { }
    public AgoraException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>
/// A file that is not what it claims to be: truncated, corrupt, lying about sizes, of an unsupported kind.
/// The message names the file and, where known, the byte offset or line.
/// </summary>
public sealed class AgoraFormatException : AgoraException
{
    public string Path { get; }
    public long? Offset { get; }

    public AgoraFormatException(string path, string problem, long? offset = null, Exception? inner = null)
        : base(Compose(path, problem, offset), inner!)
    {
        Path = path;
        Offset = offset;
    }

    static string Compose(string path, string problem, long? offset) =>
        offset is { } o ? $"{path}: at byte {o}: {problem}" : $"{path}: {problem}";
}
