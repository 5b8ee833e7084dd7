using Agora.Training;
using Agora.Training.Data;

namespace Agora.Tests.Training;

/// <summary>The parts of a fine-tuning run that need no model: the validation split and the loss curve.</summary>
public sealed class FineTuningTests
{
    [Fact]
    public void TheValidationSplitIsSeededAndKeepsTheFilesOrder()
    {
        var examples = Enumerable.Range(0, 10).Select(i => new TrainingExample([i, i], [i, i])).ToList();
        var (training, validation) = FineTuning.HoldOut(examples, 0.25, seed: 7);
        Assert.Equal(3, validation.Count); // ⌈0.25 · 10⌉, as datasets' train_test_split counts
        Assert.Equal(7, training.Count);
        Assert.Equal(examples, training.Concat(validation).OrderBy(e => e.Tokens[0]));
        Assert.Equal(training.OrderBy(e => e.Tokens[0]), training);
        Assert.Equal(validation.OrderBy(e => e.Tokens[0]), validation);
        Assert.Equal(validation, FineTuning.HoldOut(examples, 0.25, 7).Validation);
        Assert.NotEqual(validation, FineTuning.HoldOut(examples, 0.25, 8).Validation);
        Assert.Empty(FineTuning.HoldOut(examples, 0, 7).Validation);
    }

    [Fact]
    public void TheLossCurveDrawsTheValidationLossesAsASecondSeries()
    {
        var plain = LossCurve.Svg([3.0, 2.0, 1.5, 1.2]);
        Assert.Contains("class=\"train\"", plain);
        Assert.DoesNotContain("class=\"eval\"", plain);
        var both = LossCurve.Svg([3.0, 2.0, 1.5, 1.2], [new EvalLoss(2, 2.5), new EvalLoss(4, 1.4)]);
        Assert.Contains("class=\"eval\"", both);
        Assert.Contains("validation loss", both);
        Assert.Equal(2, both.Split("<circle").Length - 1);
        // Step 4 of 4 sits at the right end of the axis (x = 640 − 20), the largest loss at the top (y = 30).
        Assert.Contains("points=\"60.0,30.0 ", both);
        Assert.Contains("cx=\"620.0\"", both);
    }
}
