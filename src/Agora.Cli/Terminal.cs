namespace Agora.Cli;

/// <summary>
/// The streams a command talks through; tests pass their own to run the CLI in-process.
/// <paramref name="Interactive"/>: a person is typing and reading (stdin and stdout are a terminal).
/// <paramref name="ErrIsTerminal"/>: stderr is a terminal, so progress can be redrawn in place.
/// </summary>
public sealed record Terminal(TextReader In, TextWriter Out, TextWriter Err, bool Interactive = false, bool ErrIsTerminal = false);
