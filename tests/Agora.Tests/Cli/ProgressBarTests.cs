using Agora.Cli;
using Agora.Cli.Commands;
using Agora.Training;

namespace Agora.Tests.Cli;

public sealed class ProgressBarTests
{
    static StepTaken Step(int step) => new(step, 4, new StepResult(step - 1, 2.5 - step * 0.1, 1.0, 1e-3f, 10), 100);

    static string Run(bool errIsTerminal)
    {
        var err = new StringWriter();
        var bar = new ProgressBar(new Terminal(TextReader.Null, TextWriter.Null, err, ErrIsTerminal: errIsTerminal));
        bar.Step(Step(1), 0);
        bar.Step(Step(2), 0);
        bar.Line("checkpoint out/checkpoint-2");
        bar.Step(Step(3), 0);
        bar.Step(Step(4), 0);
        bar.Finish();
        return err.ToString();
    }

    [Fact]
    public void Redirected_every_step_is_a_line()
    {
        var lines = Run(errIsTerminal: false).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.StartsWith("step 1/4  loss 2.4000", lines[0]);
        Assert.Equal("checkpoint out/checkpoint-2", lines[2].TrimEnd('\r'));
        Assert.Matches(@"tokens/s  ETA \d\d:\d\d:\d\d", lines[4]);
        Assert.DoesNotContain('\r', Run(false).Replace(Environment.NewLine, "\n"));
    }

    [Fact]
    public void On_a_terminal_one_bar_is_redrawn_and_messages_stay_above_it()
    {
        var text = Run(errIsTerminal: true).Replace(Environment.NewLine, "\n");
        var lines = text.Split('\n');
        // The checkpoint line and the final bar are the only line ends: the steps redraw in place.
        Assert.Equal(3, lines.Length);
        Assert.EndsWith("checkpoint out/checkpoint-2", lines[0]);
        Assert.Contains("\r[########################] step 4/4", lines[1]);
        Assert.Contains("\r[############............] step 2/4", lines[0]);
        Assert.Equal("", lines[2]);
    }
}
