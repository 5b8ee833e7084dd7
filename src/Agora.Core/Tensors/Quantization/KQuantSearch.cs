namespace Agora.Tensors.Quantization;

/// <summary>
/// The scale searches behind llama.cpp's reference K-quant quantizers (make_qx_quants, make_q3_quants,
/// make_qkx2_quants) and the 6-bit scale/min packing of Q4_K and Q5_K. Arithmetic follows the C expressions in
/// order, in float, without fused multiply-adds, so results match a build of ggml that does not contract.
/// </summary>
internal static class KQuantSearch
{
    const float GroupMaxEps = 1e-15f;

    /// <summary>make_qx_quants with rmse_type 1 (weights x²): symmetric levels in [−nmax, nmax), stored as l + nmax.</summary>
    public static float SymmetricLevels(ReadOnlySpan<float> x, int nmax, Span<sbyte> levels)
    {
        float max = Q4_0Block.SignedMax(x);
        if (MathF.Abs(max) < GroupMaxEps) { levels.Clear(); return 0f; }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int l = Math.Clamp(BlockRow.NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)(l + nmax);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        float scale = suml2 != 0 ? sumlx / suml2 : 0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < x.Length; i++)
            {
                int l = Math.Clamp(BlockRow.NearestInt(iscale * x[i]), -nmax, nmax - 1);
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < x.Length; i++)
                    levels[i] = (sbyte)(nmax + Math.Clamp(BlockRow.NearestInt(iscale * x[i]), -nmax, nmax - 1));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>make_q3_quants with do_rmse: levels in [−nmax, nmax) refined one at a time, stored as l + nmax.</summary>
    public static float Q3Levels(ReadOnlySpan<float> x, int nmax, Span<sbyte> levels)
    {
        float max = Q4_0Block.SignedMax(x);
        if (MathF.Abs(max) < GroupMaxEps) { levels.Clear(); return 0f; }
        float iscale = -nmax / max;
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < x.Length; i++)
        {
            int l = Math.Clamp(BlockRow.NearestInt(iscale * x[i]), -nmax, nmax - 1);
            levels[i] = (sbyte)l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int attempt = 0; attempt < 5; attempt++)
        {
            int changed = 0;
            for (int i = 0; i < x.Length; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * levels[i];
                if (slx <= 0) continue;
                float sl2 = suml2 - w * levels[i] * levels[i];
                int l = Math.Clamp(BlockRow.NearestInt(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (l == levels[i]) continue;
                slx += w * x[i] * l;
                sl2 += w * l * l;
                if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                {
                    levels[i] = (sbyte)l;
                    sumlx = slx;
                    suml2 = sl2;
                    changed++;
                }
            }
            if (changed == 0) break;
        }
        for (int i = 0; i < x.Length; i++) levels[i] += (sbyte)nmax;
        return suml2 > 0 ? sumlx / suml2 : 0f;
    }

    /// <summary>
    /// make_qkx2_quants: x ≈ scale·l − min with l in [0, nmax], trying nstep + 1 candidate scales and keeping the one
    /// of least weighted error (absolute when <paramref name="absoluteError"/>, else squared). Returns scale; min ≥ 0.
    /// </summary>
    public static float AffineLevels(ReadOnlySpan<float> x, ReadOnlySpan<float> weights, int nmax, float rmin, float rdelta, int nstep,
        bool absoluteError, Span<byte> levels, Span<byte> scratch, out float theMin)
    {
        int n = x.Length;
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            sumW += weights[i];
            sumX += weights[i] * x[i];
        }
        if (min > 0) min = 0;
        if (max == min) { levels.Clear(); theMin = -min; return 0f; }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            levels[i] = (byte)Math.Clamp(BlockRow.NearestInt(iscale * (x[i] - min)), 0, nmax);
            float diff = scale * levels[i] + min - x[i];
            bestError += weights[i] * (absoluteError ? MathF.Abs(diff) : diff * diff);
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXL = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Clamp(BlockRow.NearestInt(iscale * (x[i] - min)), 0, nmax);
                scratch[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXL += w * l * x[i];
            }
            float det = sumW * sumL2 - sumL * sumL;
            if (!(det > 0)) continue; // as C's `if (D > 0)`, NaN included
            float thisScale = (sumW * sumXL - sumX * sumL) / det;
            float thisMin = (sumL2 * sumX - sumL * sumXL) / det;
            if (thisMin > 0)
            {
                thisMin = 0;
                thisScale = sumXL / sumL2;
            }
            float error = 0;
            for (int i = 0; i < n; i++)
            {
                float diff = thisScale * scratch[i] + thisMin - x[i];
                error += weights[i] * (absoluteError ? MathF.Abs(diff) : diff * diff);
            }
            if (error < bestError)
            {
                scratch[..n].CopyTo(levels);
                bestError = error;
                scale = thisScale;
                min = thisMin;
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>get_scale_min_k4: the j-th 6-bit scale and min of a Q4_K/Q5_K super-block's 12 packed bytes.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public static (int Scale, int Min) ScaleMinK4(int j, ReadOnlySpan<byte> q) => j < 4
        ? (q[j] & 63, q[j + 4] & 63)
        : ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4));

    /// <summary>
    /// The part Q4_K and Q5_K share: per 32-element sub-block an affine search, scales and mins quantized to 6 bits
    /// under F16 super-scales, then the levels recomputed against the rounded scales.
    /// </summary>
    public static void AffineSuperBlock(ReadOnlySpan<float> x, int nmax, float rmin, int nstep,
        Span<byte> levels, Span<byte> packedScales, out Half d, out Half dmin)
    {
        Span<float> scales = stackalloc float[8], mins = stackalloc float[8], weights = stackalloc float[32];
        Span<byte> scratch = stackalloc byte[32];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            var sub = x.Slice(32 * j, 32);
            float sumX2 = 0;
            foreach (float v in sub) sumX2 += v * v;
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(sub[l]);
            scales[j] = AffineLevels(sub, weights, nmax, rmin, 0.1f, nstep, false, levels.Slice(32 * j, 32), scratch, out mins[j]);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        packedScales.Clear();
        for (int j = 0; j < 8; j++)
        {
            int ls = Math.Min(63, (int)(byte)BlockRow.NearestInt(invScale * scales[j]));
            int lm = Math.Min(63, (int)(byte)BlockRow.NearestInt(invMin * mins[j]));
            if (j < 4)
            {
                packedScales[j] = (byte)ls;
                packedScales[j + 4] = (byte)lm;
            }
            else
            {
                packedScales[j + 4] = (byte)((ls & 0xF) | ((lm & 0xF) << 4));
                packedScales[j - 4] |= (byte)((ls >> 4) << 6);
                packedScales[j] |= (byte)((lm >> 4) << 6);
            }
        }
        d = (Half)(maxScale / 63f);
        dmin = (Half)(maxMin / 63f);
        for (int j = 0; j < 8; j++)
        {
            var (sc, m) = ScaleMinK4(j, packedScales);
            float dl = (float)d * sc;
            if (dl == 0) continue;
            float ml = (float)dmin * m;
            for (int i = 0; i < 32; i++)
                levels[32 * j + i] = (byte)Math.Clamp(BlockRow.NearestInt((x[32 * j + i] + ml) / dl), 0, nmax);
        }
    }
}
