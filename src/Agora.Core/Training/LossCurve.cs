using System.Globalization;
using System.Text;

namespace Agora.Training;

/// <summary>A training run's loss per optimizer step as a small self-contained SVG line chart.</summary>
public static class LossCurve
{
    public static string Svg(IReadOnlyList<double> losses)
    {
        const int width = 640, height = 360, left = 60, right = 20, top = 20, bottom = 40;
        var c = CultureInfo.InvariantCulture;
        double min = losses.Count == 0 ? 0 : losses.Min(), max = losses.Count == 0 ? 1 : losses.Max();
        if (max - min < 1e-12) { min -= 0.5; max += 0.5; }
        double X(int i) => left + (losses.Count <= 1 ? 0 : (double)i / (losses.Count - 1) * (width - left - right));
        double Y(double v) => top + (max - v) / (max - min) * (height - top - bottom);
        var svg = new StringBuilder();
        svg.Append(c, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" font-family=\"sans-serif\" font-size=\"12\">\n");
        svg.Append(c, $"<rect width=\"{width}\" height=\"{height}\" fill=\"white\"/>\n");
        svg.Append(c, $"<path d=\"M{left},{top} V{height - bottom} H{width - right}\" fill=\"none\" stroke=\"black\"/>\n");
        svg.Append(c, $"<text x=\"{left - 6}\" y=\"{top + 4}\" text-anchor=\"end\">{max:G4}</text>\n");
        svg.Append(c, $"<text x=\"{left - 6}\" y=\"{height - bottom + 4}\" text-anchor=\"end\">{min:G4}</text>\n");
        svg.Append(c, $"<text x=\"{left}\" y=\"{height - bottom + 18}\">1</text>\n");
        svg.Append(c, $"<text x=\"{width - right}\" y=\"{height - bottom + 18}\" text-anchor=\"end\">{losses.Count}</text>\n");
        svg.Append(c, $"<text x=\"{(left + width - right) / 2}\" y=\"{height - 8}\" text-anchor=\"middle\">optimizer step</text>\n");
        svg.Append(c, $"<text x=\"14\" y=\"{(top + height - bottom) / 2}\" transform=\"rotate(-90 14 {(top + height - bottom) / 2})\" text-anchor=\"middle\">loss</text>\n");
        if (losses.Count > 0)
        {
            svg.Append("<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"");
            for (int i = 0; i < losses.Count; i++) svg.Append(c, $"{(i > 0 ? " " : "")}{X(i):F1},{Y(losses[i]):F1}");
            svg.Append("\"/>\n");
        }
        svg.Append("</svg>\n");
        return svg.ToString();
    }
}
