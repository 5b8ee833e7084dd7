using System.CommandLine;
using Agora.Cli.Commands;

namespace Agora.Cli;

/// <summary>
/// The command tree and its one error policy: user-facing problems print "error: …" and exit 1, with a stack
/// trace only under --verbose; anything unexpected exits 70 and asks for a report.
/// </summary>
public static class AgoraCli
{
    public static readonly Option<bool> Verbose = new("--verbose")
    {
        Description = "Show stack traces for errors",
        Recursive = true,
    };

    public static int Run(string[] args, Terminal terminal)
    {
        var root = new RootCommand("Agora: the open-LLM workbench for .NET")
        {
            Verbose,
            InspectCommand.Create(terminal),
            TokenizeCommand.Create(terminal),
            TemplateCommand.Create(terminal),
            GenerateCommand.Create(terminal),
            ChatCommand.Create(terminal),
            ScoreCommand.Create(terminal),
            BenchCommand.Create(terminal),
            QuantizeCommand.Create(terminal),
            MergeCommand.Create(terminal),
            FinetuneCommand.Create(terminal),
        };
        var config = new InvocationConfiguration
        {
            Output = terminal.Out,
            Error = terminal.Err,
            EnableDefaultExceptionHandler = false,
        };
        return root.Parse(args).Invoke(config);
    }

    /// <summary>Wraps a command body in the error policy.</summary>
    public static Func<ParseResult, int> Guarded(Terminal terminal, Func<ParseResult, int> body) => parse =>
        GuardedAsync(terminal, (p, _) => Task.FromResult(body(p)))(parse, CancellationToken.None).GetAwaiter().GetResult();

    /// <summary>Wraps an asynchronous command body (one that streams and can be cancelled with Ctrl+C) in the error policy.</summary>
    public static Func<ParseResult, CancellationToken, Task<int>> GuardedAsync(Terminal terminal, Func<ParseResult, CancellationToken, Task<int>> body) => async (parse, cancellation) =>
    {
        try
        {
            return await body(parse, cancellation);
        }
        catch (OperationCanceledException) when (cancellation.IsCancellationRequested)
        {
            terminal.Err.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (e is AgoraException or IOException or UnauthorizedAccessException)
        {
            terminal.Err.WriteLine($"error: {e.Message}");
            if (parse.GetValue(Verbose)) terminal.Err.WriteLine(e);
            return 1;
        }
        catch (Exception e)
        {
            terminal.Err.WriteLine($"error: internal error ({e.GetType().Name}: {e.Message}); please report it with the output of --verbose");
            if (parse.GetValue(Verbose)) terminal.Err.WriteLine(e);
            return 70;
        }
    };
}
