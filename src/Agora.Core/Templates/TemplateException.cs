namespace Agora.Templates;

/// <summary>
/// Any problem with a chat template: a syntax error (with origin and line), or an error raised while rendering.
/// Rendering errors read as Python prints them (<c>TypeError: 'NoneType' object is not iterable</c>,
/// <c>TemplateError: System role not supported</c>), so they compare directly with what transformers reports.
/// </summary>
public sealed class TemplateException : AgoraException
{
    /// <summary>The Python/Jinja exception class the reference engine raises here (TemplateSyntaxError, UndefinedError, TypeError…).</summary>
    public string ErrorType { get; }

    /// <summary>The bare message, e.g. exactly the text given to <c>raise_exception</c>.</summary>
    public string Detail { get; }

    /// <summary>The template's origin (file name, GGUF key…), when known.</summary>
    public string? Origin { get; internal set; }

    /// <summary>The template line the error belongs to, when known.</summary>
    public int? Line { get; internal set; }

    internal TemplateException(string errorType, string detail, string? origin = null, int? line = null)
        : base(Compose(errorType, detail, origin, line))
    {
        ErrorType = errorType;
        Detail = detail;
        Origin = origin;
        Line = line;
    }

    // Syntax errors name where they are; rendering errors read exactly like the reference engine's.
    static string Compose(string errorType, string detail, string? origin, int? line) =>
        errorType == SyntaxError ? $"{origin ?? "<template>"}: line {line}: {detail}" : $"{errorType}: {detail}";

    internal const string SyntaxError = "TemplateSyntaxError";

    internal static TemplateException Syntax(string detail, string origin, int line) => new(SyntaxError, detail, origin, line);
    internal static TemplateException Type(string detail) => new("TypeError", detail);
    internal static TemplateException Value(string detail) => new("ValueError", detail);
    internal static TemplateException Runtime(string detail) => new("TemplateRuntimeError", detail);
}
