using System.Diagnostics;
using System.Globalization;
using Agora.Training;

namespace Agora.Cli.Commands;

/// <summary>
/// Training progress on stderr: step, loss, learning rate, gradient norm, tokens/s and ETA. On a terminal one bar is
/// redrawn in place and other messages print above it; redirected to a file or a pipe, every step is a line of its
/// own, so logs keep the whole history and programs can follow it line by line.
/// </summary>
public sealed class ProgressBar(Terminal terminal)
{
    const int Width = 24;
    readonly Stopwatch _clock = Stopwatch.StartNew();
    long _tokens;
    int _drawn;

    public TimeSpan Elapsed => _clock.Elapsed;

    public void Step(StepTaken s, int startStep)
    {
        _tokens += s.Tokens;
        double elapsed = _clock.Elapsed.TotalSeconds;
        var eta = TimeSpan.FromSeconds(elapsed / (s.Step - startStep) * (s.TotalSteps - s.Step));
        string figures = string.Create(CultureInfo.InvariantCulture,
            $"step {s.Step}/{s.TotalSteps}  loss {s.Result.Loss:F4}  lr {s.Result.LearningRate:G3}  grad-norm {s.Result.GradientNorm:G3}  {_tokens / Math.Max(elapsed, 1e-9):F0} tokens/s  ETA {eta:hh\\:mm\\:ss}");
        if (!terminal.ErrIsTerminal)
        {
            terminal.Err.WriteLine(figures);
            return;
        }
        int filled = (int)((long)Width * s.Step / Math.Max(1, s.TotalSteps));
        Draw($"[{new string('#', filled)}{new string('.', Width - filled)}] {figures}");
    }

    /// <summary>A message that stays: printed above the bar, which the next step redraws.</summary>
    public void Line(string message)
    {
        if (terminal.ErrIsTerminal && _drawn > 0) Draw("");
        terminal.Err.WriteLine(message);
        _drawn = 0;
    }

    /// <summary>Leaves the last bar on screen and moves below it.</summary>
    public void Finish()
    {
        if (terminal.ErrIsTerminal && _drawn > 0) terminal.Err.WriteLine();
        _drawn = 0;
    }

    void Draw(string text)
    {
        // Pad over what the previous drawing left, then return to the line's start.
        terminal.Err.Write("\r" + text.PadRight(_drawn) + (text.Length == 0 ? "\r" : ""));
        terminal.Err.Flush();
        _drawn = text.Length;
    }
}
