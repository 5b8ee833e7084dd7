namespace Agora.Cli;

/// <summary>The streams a command talks through; tests pass their own to run the CLI in-process.</summary>
public sealed record Terminal(TextReader In, TextWriter Out, TextWriter Err);
