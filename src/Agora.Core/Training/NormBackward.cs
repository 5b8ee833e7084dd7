using System.Numerics.Tensors;

namespace Agora.Training;

/// <summary>
/// Backward passes of RMSNorm and LayerNorm over whole rows, recomputing each row's statistics from the saved input
/// (cheaper to store than to keep). Input gradients are added to dx; weight and bias gradients accumulate when given.
/// </summary>
static class NormBackward
{
    /// <summary>y = x·r·w with r = 1/√(mean(x²) + eps): dx += r·(w∘dy) − x·r³·Σ(w∘dy∘x)/n.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dWeight)
    {
        int n = weight.Length;
        Span<float> wdy = n <= 4096 ? stackalloc float[n] : new float[n];
        for (int r = 0; r < x.Length; r += n)
        {
            var xr = x.Slice(r, n);
            var dyr = dy.Slice(r, n);
            double rstd = 1.0 / Math.Sqrt(TensorPrimitives.SumOfSquares(xr) / (double)n + eps);
            TensorPrimitives.Multiply(weight, dyr, wdy);
            double dot = 0;
            for (int i = 0; i < n; i++) dot += (double)wdy[i] * xr[i];
            var dxr = dx.Slice(r, n);
            float a = (float)rstd, b = (float)(-dot * rstd * rstd * rstd / n);
            for (int i = 0; i < n; i++) dxr[i] += a * wdy[i] + b * xr[i];
            if (!dWeight.IsEmpty)
                for (int i = 0; i < n; i++) dWeight[i] += dyr[i] * xr[i] * a;
        }
    }

    /// <summary>y = x̂·w + b with x̂ = (x − μ)·r: dx += r·(g − mean(g) − x̂·mean(g∘x̂)), g = w∘dy.</summary>
    public static void LayerNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, float eps, ReadOnlySpan<float> dy,
        Span<float> dx, Span<float> dWeight, Span<float> dBias)
    {
        int n = weight.Length;
        Span<float> xhat = n <= 4096 ? stackalloc float[n] : new float[n];
        for (int r = 0; r < x.Length; r += n)
        {
            var xr = x.Slice(r, n);
            var dyr = dy.Slice(r, n);
            float mean = (float)(SumDouble(xr) / n);
            TensorPrimitives.Subtract(xr, mean, xhat);
            float rstd = (float)(1.0 / Math.Sqrt(TensorPrimitives.SumOfSquares(xhat) / (double)n + eps));
            TensorPrimitives.Multiply(xhat, rstd, xhat);
            double sumG = 0, sumGx = 0;
            for (int i = 0; i < n; i++)
            {
                double g = (double)weight[i] * dyr[i];
                sumG += g;
                sumGx += g * xhat[i];
            }
            float meanG = (float)(sumG / n), meanGx = (float)(sumGx / n);
            var dxr = dx.Slice(r, n);
            for (int i = 0; i < n; i++) dxr[i] += rstd * (weight[i] * dyr[i] - meanG - xhat[i] * meanGx);
            if (!dWeight.IsEmpty)
                for (int i = 0; i < n; i++) dWeight[i] += dyr[i] * xhat[i];
            if (!dBias.IsEmpty) TensorPrimitives.Add(dBias, dyr, dBias);
        }
    }

    static double SumDouble(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += v;
        return s;
    }
}
