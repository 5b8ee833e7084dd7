using System.Globalization;
using System.Text;

namespace Agora.Training;

/// <summary>
/// A training run's loss per optimizer step as a small self-contained SVG line chart, with the validation losses
/// (when there are any) as a second series at the steps they were measured.
/// </summary>
public static class LossCurve
{
    public static string Svg(IReadOnlyList<double> losses, IReadOnlyList<EvalLoss>? evalLosses = null)
    {
        const int width = 640, height = 360, left = 60, right = 20, top = 30, bottom = 40;
        const string trainColour = "#1f77b4", evalColour = "#ff7f0e";
        var c = CultureInfo.InvariantCulture;
        var eval = evalLosses ?? [];
        var all = losses.Concat(eval.Select(e => e.Loss)).ToList();
        double min = all.Count == 0 ? 0 : all.Min(), max = all.Count == 0 ? 1 : all.Max();
        if (max - min < 1e-12) { min -= 0.5; max += 0.5; }
        int steps = Math.Max(losses.Count, eval.Count == 0 ? 0 : eval.Max(e => e.Step));
        // Step s (1-based) sits at s − 1 of the axis, which spans the steps of the run.
        double X(int step) => left + (steps <= 1 ? 0 : (double)(step - 1) / (steps - 1) * (width - left - right));
        double Y(double v) => top + (max - v) / (max - min) * (height - top - bottom);
        var svg = new StringBuilder();
        svg.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(c, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(c, $"<path d=\"M{left},{top} V{height - bottom} H{width - right}\" fill=\"none\" stroke=\"black\"/>\n");
        svg.Append(c, $"<text x=\"{left - 6}\" y=\"{top + 4}\" text-anchor=\"end\">{max:G4}</text>\n");
        svg.Append(c, $"<text x=\"{left - 6}\" y=\"{height - bottom + 4}\" text-anchor=\"end\">{min:G4}</text>\n");
        svg.Append(c, $"<text x=\"{left}\" y=\"{height - bottom + 18}\">1</text>\n");
        svg.Append(c, $"<text x=\"{width - right}\" y=\"{height - bottom + 18}\" text-anchor=\"end\">{steps}</text>\n");
        svg.Append(c, $"<text x=\"{(left + width - right) / 2}\" y=\"{height - 8}\" text-anchor=\"middle\">optimizer step</text>\n");
        svg.Append(c, $"<text x=\"14\" y=\"{(top + height - bottom) / 2}\" transform=\"rotate(-90 14 {(top + height - bottom) / 2})\" text-anchor=\"middle\">loss</text>\n");
        if (losses.Count > 0)
        {
            svg.Append(c, $"<polyline class=\"train\" fill=\"none\" stroke=\"{trainColour}\" stroke-width=\"2\" points=\"");
            for (int i = 0; i < losses.Count; i++) svg.Append(c, $"{(i > 0 ? " " : "")}{X(i + 1):F1},{Y(losses[i]):F1}");
            svg.Append("\"/>\n");
        }
        if (eval.Count > 0)
        {
            svg.Append(c, $"<polyline class=\"eval\" fill=\"none\" stroke=\"{evalColour}\" stroke-width=\"2\" stroke-dasharray=\"6 3\" points=\"");
            for (int i = 0; i < eval.Count; i++) svg.Append(c, $"{(i > 0 ? " " : "")}{X(eval[i].Step):F1},{Y(eval[i].Loss):F1}");
            svg.Append("\"/>\n");
            foreach (var e in eval) svg.Append(c, $"<circle cx=\"{X(e.Step):F1}\" cy=\"{Y(e.Loss):F1}\" r=\"3\" fill=\"{evalColour}\"/>\n");
            // A legend above the plot, where no point can hide it.
            svg.Append(c, $"<text x=\"{left}\" y=\"{top - 14}\" fill=\"{trainColour}\">training loss</text>\n");
            svg.Append(c, $"<text x=\"{left + 110}\" y=\"{top - 14}\" fill=\"{evalColour}\">validation loss (dashed)</text>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }
}
