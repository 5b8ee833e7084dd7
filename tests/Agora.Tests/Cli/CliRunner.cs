using Agora.Cli;

namespace Agora.Tests.Cli;

/// <summary>Runs the agora command in-process with captured streams.</summary>
static class CliRunner
{
    public sealed record Result(int ExitCode, string Out, string Err);

    public static Result RunWithInput(string stdin, params string[] args)
    {
        var output = new StringWriter { NewLine = "\n" };
        var error = new StringWriter { NewLine = "\n" };
        int code = AgoraCli.Run(args, new Terminal(new StringReader(stdin), output, error));
        return new Result(code, output.ToString(), error.ToString());
    }

    public static Result Run(params string[] args) => RunWithInput("", args);

    /// <summary>A user-facing failure: non-zero, one "error:" line naming the problem, no stack trace.</summary>
    public static void AssertCleanFailure(Result r, string expectedFragment)
    {
        Assert.NotEqual(0, r.ExitCode);
        Assert.StartsWith("error: ", r.Err);
        Assert.Contains(expectedFragment, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
        Assert.DoesNotContain("internal error", r.Err);
    }
}
