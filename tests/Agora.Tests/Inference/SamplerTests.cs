using Agora.Formats.HuggingFace;
using Agora.Inference.Sampling;

namespace Agora.Tests.Inference;

public class SamplerTests
{
    /// <summary>Logits whose softmax is exactly proportional to <paramref name="weights"/>.</summary>
    static float[] LogitsOf(params double[] weights) => weights.Select(w => (float)Math.Log(w)).ToArray();

    static double[] Probabilities(SamplerOptions options, float[] logits, int[]? history = null)
    {
        var probabilities = new double[logits.Length];
        new Sampler(options, logits.Length).GetProbabilities(logits, history ?? [], probabilities);
        return probabilities;
    }

    static int[] Kept(SamplerOptions options, float[] logits) =>
        Probabilities(options, logits).Select((p, i) => (p, i)).Where(x => x.p > 0).Select(x => x.i).ToArray();

    static double[] Softmax(IReadOnlyList<double> scores)
    {
        double max = scores.Max();
        var e = scores.Select(s => Math.Exp(s - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    [Fact]
    public void Greedy_takes_the_argmax_and_the_lowest_id_among_ties()
    {
        var sampler = new Sampler(SamplerOptions.Greedy, 5);
        Assert.Equal(3, sampler.Sample([0.1f, -2f, 0.5f, 0.9f, 0.2f]));
        Assert.Equal(1, sampler.Sample([0.1f, 0.9f, 0.5f, 0.9f, 0.9f]));
        Assert.Equal(2, sampler.Sample([float.NegativeInfinity, float.NegativeInfinity, -1e30f, -1e30f, float.NegativeInfinity]));
    }

    [Fact]
    public void A_NaN_or_infinite_logit_is_an_error_not_a_choice()
    {
        var sampler = new Sampler(new SamplerOptions { Seed = 1 }, 3);
        Assert.Contains("token 1", Assert.Throws<AgoraException>(() => sampler.Sample([0f, float.NaN, 1f])).Message);
        Assert.Throws<AgoraException>(() => sampler.Sample([0f, float.PositiveInfinity, 1f]));
        Assert.Throws<AgoraException>(() => sampler.Sample([float.NegativeInfinity, float.NegativeInfinity, float.NegativeInfinity]));
    }

    [Fact]
    public void Top_k_keeps_the_k_best_and_those_tied_with_the_kth()
    {
        float[] logits = [1f, 5f, 3f, 4f, 2f, 0f];
        Assert.Equal([1, 3], Kept(new SamplerOptions { TopK = 2 }, logits));
        Assert.Equal([1, 2, 3], Kept(new SamplerOptions { TopK = 3 }, logits));
        Assert.Equal([1], Kept(new SamplerOptions { TopK = 1 }, logits));
        Assert.Equal(6, Kept(new SamplerOptions { TopK = 100 }, logits).Length);
        Assert.Equal([1, 2, 3, 5], Kept(new SamplerOptions { TopK = 2 }, [1f, 5f, 4f, 4f, 2f, 4f]));
    }

    [Fact]
    public void Top_p_keeps_the_smallest_head_whose_mass_reaches_p()
    {
        var logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1], Kept(new SamplerOptions { TopP = 0.45 }, logits));
        Assert.Equal([1, 3], Kept(new SamplerOptions { TopP = 0.75 }, logits));
        Assert.Equal([1, 2, 3], Kept(new SamplerOptions { TopP = 0.9 }, logits));
        Assert.Equal([0, 1, 2, 3], Kept(new SamplerOptions { TopP = 1 }, logits));
        var p = Probabilities(new SamplerOptions { TopP = 0.75 }, logits);
        Assert.Equal(0.5 / 0.8, p[1], 6);
        Assert.Equal(0.3 / 0.8, p[3], 6);
    }

    [Fact]
    public void Min_p_drops_tokens_below_a_fraction_of_the_best()
    {
        var logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1, 2, 3], Kept(new SamplerOptions { MinP = 0.2 }, logits));
        Assert.Equal([1, 3], Kept(new SamplerOptions { MinP = 0.5 }, logits));
        Assert.Equal([1], Kept(new SamplerOptions { MinP = 1 }, logits));
    }

    [Fact]
    public void Truncations_apply_in_order_top_k_then_top_p_over_what_top_k_left()
    {
        // After top-k 2 the renormalised pair is 0.625 / 0.375: top-p 0.6 keeps only the first.
        var logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        Assert.Equal([1], Kept(new SamplerOptions { TopK = 2, TopP = 0.6 }, logits));
        Assert.Equal([1, 3], Kept(new SamplerOptions { TopP = 0.6 }, logits));
    }

    [Fact]
    public void Temperature_divides_the_logits()
    {
        float[] logits = [1f, 2f, -0.5f, 0.25f];
        foreach (double t in new[] { 0.3, 1.0, 2.5 })
        {
            var expected = Softmax(logits.Select(l => (double)(l / (float)t)).ToArray());
            var actual = Probabilities(new SamplerOptions { Temperature = t }, logits);
            for (int i = 0; i < logits.Length; i++) Assert.Equal(expected[i], actual[i], 12);
        }
    }

    [Fact]
    public void A_vanishing_temperature_is_greedy_rather_than_NaN()
    {
        float[] logits = [1f, 30f, 29f, -5f];
        foreach (double t in new[] { 1e-38, 1e-50 })
            Assert.Equal([0, 1, 0, 0], Probabilities(new SamplerOptions { Temperature = t }, logits));
    }

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_logits_of_seen_tokens()
    {
        float[] logits = [2f, -2f, 1f, 0.5f];
        var p = Probabilities(new SamplerOptions { RepetitionPenalty = 2 }, logits, [0, 1, 1]);
        var expected = Softmax([1, -4, 1, 0.5]);
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], p[i], 12);
    }

    [Fact]
    public void Presence_and_frequency_penalties_subtract_once_and_per_occurrence()
    {
        float[] logits = [2f, -2f, 1f, 0.5f];
        var p = Probabilities(new SamplerOptions { PresencePenalty = 0.5, FrequencyPenalty = 0.25 }, logits, [0, 1, 1, 1]);
        var expected = Softmax([2 - 0.5 - 0.25, -2 - 0.5 - 0.75, 1, 0.5]);
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], p[i], 6);
        // Repetition first, then presence/frequency on the result, as llama.cpp.
        p = Probabilities(new SamplerOptions { RepetitionPenalty = 2, FrequencyPenalty = 1 }, logits, [0]);
        expected = Softmax([0, -2, 1, 0.5]);
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], p[i], 6);
    }

    [Fact]
    public void Penalty_window_looks_only_at_the_latest_tokens()
    {
        float[] logits = [2f, 2f, 2f, 2f];
        var p = Probabilities(new SamplerOptions { PresencePenalty = 1, PenaltyWindow = 3 }, logits, [0, 1, 2, 2]);
        var expected = Softmax([2, 1, 1, 2]);
        for (int i = 0; i < 4; i++) Assert.Equal(expected[i], p[i], 6);
        p = Probabilities(new SamplerOptions { PresencePenalty = 1, PenaltyWindow = 0 }, logits, [0, 1]);
        Assert.All(p, x => Assert.Equal(0.25, x, 12));
        Assert.Throws<AgoraException>(() => Probabilities(new SamplerOptions { PresencePenalty = 1 }, logits, [7]));
    }

    [Fact]
    public void Penalties_apply_to_greedy_decoding_too()
    {
        var sampler = new Sampler(SamplerOptions.Greedy with { RepetitionPenalty = 4 }, 3);
        Assert.Equal(1, sampler.Sample([2f, 1f, 0f], [0]));
    }

    [Fact]
    public void The_generator_follows_xoshiro256_star_star_seeded_by_splitmix64()
    {
        // Computed from the published algorithms, independently of this code.
        var random = new Xoshiro256(42);
        Assert.Equal(0x15780b2e0c2ec716UL, random.NextUInt64());
        Assert.Equal(0x6104d9866d113a7eUL, random.NextUInt64());
        Assert.Equal(0xae17533239e499a1UL, random.NextUInt64());
    }

    static int[] Draws(ulong seed, int count)
    {
        var logits = Enumerable.Range(0, 50).Select(i => (float)Math.Sin(i)).ToArray();
        var sampler = new Sampler(new SamplerOptions { Seed = seed, Temperature = 0.8, TopK = 20, TopP = 0.95 }, 50);
        return Enumerable.Range(0, count).Select(_ => sampler.Sample(logits)).ToArray();
    }

    [Fact]
    public void Same_seed_same_draws_different_seeds_differ()
    {
        Assert.Equal(Draws(7, 200), Draws(7, 200));
        Assert.NotEqual(Draws(7, 200), Draws(8, 200));
        Assert.Equal(123UL, new Sampler(new SamplerOptions { Seed = 123 }, 4).Seed);
    }

    [Fact]
    public void Draws_follow_the_softmax_within_a_statistical_bound()
    {
        float[] logits = [0.3f, -1.2f, 2.0f, 0.0f, 1.1f, -0.4f, 0.7f, -3f];
        double t = 0.9;
        var expected = Softmax(logits.Select(l => (double)(l / (float)t)).ToArray());
        var sampler = new Sampler(new SamplerOptions { Temperature = t, Seed = 2024 }, logits.Length);
        const int n = 200_000;
        var counts = new int[logits.Length];
        for (int i = 0; i < n; i++) counts[sampler.Sample(logits)]++;
        // Pearson chi-square with 7 degrees of freedom: 24.3 is its 0.999 quantile (the seed fixes the outcome).
        double chi2 = counts.Select((c, i) => (c - n * expected[i]) * (c - n * expected[i]) / (n * expected[i])).Sum();
        Assert.True(chi2 < 24.3, $"chi-square {chi2:0.0}: counts [{string.Join(", ", counts)}]");
    }

    [Fact]
    public void Cut_tokens_are_never_drawn()
    {
        var logits = LogitsOf(0.05, 0.5, 0.15, 0.3);
        var sampler = new Sampler(new SamplerOptions { TopP = 0.75, Seed = 3 }, 4);
        var seen = Enumerable.Range(0, 2000).Select(_ => sampler.Sample(logits)).ToHashSet();
        Assert.Equal([1, 3], seen.Order());
    }

    [Fact]
    public void A_step_allocates_nothing()
    {
        var random = new Random(5);
        var logits = Enumerable.Range(0, 4096).Select(_ => (float)random.NextDouble() * 6).ToArray();
        int[] history = [.. Enumerable.Range(0, 100).Select(_ => random.Next(4096))];
        var sampler = new Sampler(new SamplerOptions
        {
            Temperature = 0.7, TopK = 500, TopP = 0.9, MinP = 0.01, RepetitionPenalty = 1.2,
            PresencePenalty = 0.1, FrequencyPenalty = 0.1, PenaltyWindow = 64, Seed = 1,
        }, logits.Length);
        var plain = new Sampler(new SamplerOptions { TopP = 0.5, Seed = 1 }, logits.Length);
        sampler.Sample(logits, history);
        plain.Sample(logits, history);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 20; i++)
        {
            sampler.Sample(logits, history);
            plain.Sample(logits, history);
        }
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    /// <summary>The pipeline written plainly (full sorts, LINQ): what the optimised one must reproduce.</summary>
    static double[] PlainPipeline(float[] logits, int[] history, SamplerOptions o)
    {
        var s = (float[])logits.Clone();
        var seen = (o.PenaltyWindow is int w ? history.TakeLast(w) : history).GroupBy(id => id);
        foreach (var g in seen)
        {
            float v = s[g.Key];
            if (o.RepetitionPenalty != 1) v = v < 0 ? v * (float)o.RepetitionPenalty : v / (float)o.RepetitionPenalty;
            s[g.Key] = v - (g.Count() * (float)o.FrequencyPenalty + (float)o.PresencePenalty);
        }
        var result = new double[s.Length];
        var order = Enumerable.Range(0, s.Length).OrderByDescending(i => s[i]).ThenBy(i => i).ToArray();
        if (o.IsGreedy) { result[order[0]] = 1; return result; }
        for (int i = 0; i < s.Length; i++) s[i] /= (float)o.Temperature;
        double max = s[order[0]];
        var keep = order.ToList();
        if (o.TopK > 0 && o.TopK < keep.Count) { float kth = s[keep[o.TopK - 1]]; keep = keep.Where(i => s[i] >= kth).ToList(); }
        if (o.TopP < 1)
        {
            double z = keep.Sum(i => Math.Exp(s[i] - max)), mass = 0;
            int n = 0;
            while (n < keep.Count && mass < o.TopP * z) mass += Math.Exp(s[keep[n++]] - max);
            keep = keep.Take(n).ToList();
        }
        if (o.MinP > 0) keep = keep.Where(i => Math.Exp(s[i] - max) >= o.MinP).ToList();
        double total = keep.Sum(i => Math.Exp(s[i] - max));
        foreach (int i in keep) result[i] = Math.Exp(s[i] - max) / total;
        return result;
    }

    [Fact]
    public void Matches_the_plain_pipeline_on_random_cases_large_vocabularies_and_ties_included()
    {
        var random = new Random(11);
        for (int trial = 0; trial < 300; trial++)
        {
            int vocab = trial % 3 == 0 ? 5000 : random.Next(1, 300);
            // Quantised logits make ties common, at truncation boundaries too.
            var logits = Enumerable.Range(0, vocab).Select(_ => MathF.Round((float)(random.NextDouble() * 8 - 4) * 4) / 4).ToArray();
            var history = Enumerable.Range(0, random.Next(0, 40)).Select(_ => random.Next(vocab)).ToArray();
            var options = new SamplerOptions
            {
                Temperature = random.Next(6) == 0 ? 0 : 0.2 + random.NextDouble() * 2,
                TopK = random.Next(3) == 0 ? 0 : random.Next(1, vocab + 5),
                TopP = random.Next(3) == 0 ? 1 : 0.05 + random.NextDouble() * 0.95,
                MinP = random.Next(3) == 0 ? 0 : random.NextDouble() * 0.5,
                RepetitionPenalty = random.Next(2) == 0 ? 1 : 0.5 + random.NextDouble() * 1.5,
                PresencePenalty = random.Next(2) == 0 ? 0 : random.NextDouble() - 0.3,
                FrequencyPenalty = random.Next(2) == 0 ? 0 : random.NextDouble() - 0.3,
                PenaltyWindow = random.Next(2) == 0 ? null : random.Next(0, 20),
            };
            var expected = PlainPipeline(logits, history, options);
            var actual = Probabilities(options, logits, history);
            for (int i = 0; i < vocab; i++)
            {
                Assert.True(expected[i] == 0 == (actual[i] == 0), $"trial {trial} ({options}): token {i} kept differently");
                Assert.Equal(expected[i], actual[i], 12);
            }
        }
    }

    [Theory]
    [InlineData("temperature")]
    [InlineData("top-k")]
    [InlineData("top-p")]
    [InlineData("top-p high")]
    [InlineData("min-p")]
    [InlineData("repetition penalty")]
    [InlineData("presence penalty")]
    [InlineData("penalty window")]
    public void Out_of_range_settings_are_refused_by_name(string setting)
    {
        var options = setting switch
        {
            "temperature" => new SamplerOptions { Temperature = -0.5 },
            "top-k" => new SamplerOptions { TopK = -1 },
            "top-p" => new SamplerOptions { TopP = 0 },
            "top-p high" => new SamplerOptions { TopP = 1.5 },
            "min-p" => new SamplerOptions { MinP = double.NaN },
            "repetition penalty" => new SamplerOptions { RepetitionPenalty = 0 },
            "presence penalty" => new SamplerOptions { PresencePenalty = double.PositiveInfinity },
            _ => new SamplerOptions { PenaltyWindow = -3 },
        };
        var error = Assert.Throws<AgoraException>(() => new Sampler(options, 10));
        Assert.Contains(setting.Replace(" high", ""), error.Message);
    }

    [Fact]
    public void Generation_config_defaults_map_to_sampler_options()
    {
        var greedy = SamplerOptions.FromGenerationConfig(GenerationConfig.Parse("""{"do_sample": false, "temperature": 0.7}"""));
        Assert.True(greedy.IsGreedy);
        var sampled = SamplerOptions.FromGenerationConfig(GenerationConfig.Parse(
            """{"do_sample": true, "temperature": 0.7, "top_k": 40, "top_p": 0.9, "min_p": 0.05, "repetition_penalty": 1.1}"""));
        Assert.Equal(new SamplerOptions { Temperature = 0.7, TopK = 40, TopP = 0.9, MinP = 0.05, RepetitionPenalty = 1.1 }, sampled);
    }
}
