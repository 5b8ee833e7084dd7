using System.IO.Compression;
using System.Text;

namespace Agora.Tokenization;

/// <summary>
/// Unicode normalization (NFC, NFD, NFKC, NFKD) in managed code. <see cref="string.Normalize()"/> cannot be used:
/// with InvariantGlobalization (which the project sets to stay free of native ICU) it leaves non-ASCII text
/// untouched. Tables come from UnicodeNormalizationData.cs; the algorithm is the standard one (full decomposition,
/// canonical ordering by combining class, canonical composition with blocking; Hangul computed).
/// </summary>
static partial class UnicodeNormalization
{
    sealed class Tables
    {
        public readonly Dictionary<int, byte> CombiningClass = new();
        public readonly Dictionary<int, int[]> Canonical = new(), Compatibility = new();
        public readonly Dictionary<long, int> Composites = new();
    }

    static readonly Lazy<Tables> Loaded = new(Load);

    static Tables Load()
    {
        using var inflate = new DeflateStream(new MemoryStream(Convert.FromBase64String(Data)), CompressionMode.Decompress);
        using var reader = new BinaryReader(inflate);
        var t = new Tables();
        for (int n = reader.ReadInt32(); n > 0; n--) t.CombiningClass[reader.ReadInt32()] = (byte)reader.ReadInt32();
        foreach (var map in new[] { t.Canonical, t.Compatibility })
            for (int n = reader.ReadInt32(); n > 0; n--)
            {
                int cp = reader.ReadInt32();
                var seq = new int[reader.ReadInt32()];
                for (int i = 0; i < seq.Length; i++) seq[i] = reader.ReadInt32();
                map[cp] = seq;
            }
        for (int n = reader.ReadInt32(); n > 0; n--)
        {
            int a = reader.ReadInt32(), b = reader.ReadInt32();
            t.Composites[Pair(a, b)] = reader.ReadInt32();
        }
        return t;
    }

    static long Pair(int a, int b) => ((long)a << 21) | (uint)b;

    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    const int NCount = VCount * TCount, SCount = LCount * NCount;

    public static string Normalize(string text, NormalizationForm form)
    {
        bool compat = form is NormalizationForm.FormKC or NormalizationForm.FormKD;
        bool compose = form is NormalizationForm.FormC or NormalizationForm.FormKC;
        // Below these bounds every character is already in the form (no decompositions, no combining marks).
        int bound = compat ? 0xA0 : compose ? 0x300 : 0xC0;
        if (!text.AsSpan().ContainsAnyExceptInRange('\0', (char)(bound - 1))) return text;

        var t = Loaded.Value;
        var cps = new List<int>(text.Length + 8);
        for (int i = 0; i < text.Length;)
        {
            int cp = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])
                ? char.ConvertToUtf32(text[i], text[i + 1]) : text[i];
            i += cp > 0xFFFF ? 2 : 1;
            Decompose(cp, compat, t, cps);
        }
        Reorder(cps, t);
        if (compose) Compose(cps, t);
        var sb = new StringBuilder(cps.Count);
        foreach (int cp in cps)
            if (cp is >= 0xD800 and <= 0xDFFF) sb.Append((char)cp); else sb.Append(char.ConvertFromUtf32(cp));
        return sb.ToString();
    }

    static void Decompose(int cp, bool compat, Tables t, List<int> output)
    {
        if (cp is >= SBase and < SBase + SCount)
        {
            int s = cp - SBase;
            output.Add(LBase + s / NCount);
            output.Add(VBase + s % NCount / TCount);
            if (s % TCount != 0) output.Add(TBase + s % TCount);
            return;
        }
        if ((compat && t.Compatibility.TryGetValue(cp, out var seq)) || t.Canonical.TryGetValue(cp, out seq)) output.AddRange(seq);
        else output.Add(cp);
    }

    static int Ccc(int cp, Tables t) => t.CombiningClass.TryGetValue(cp, out var c) ? c : 0;

    /// <summary>Stable sort of each run of non-starters by combining class.</summary>
    static void Reorder(List<int> cps, Tables t)
    {
        for (int i = 1; i < cps.Count; i++)
        {
            int c = Ccc(cps[i], t);
            if (c == 0) continue;
            for (int j = i; j > 0; j--)
            {
                int prev = Ccc(cps[j - 1], t);
                if (prev <= c) break;
                (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
            }
        }
    }

    static void Compose(List<int> cps, Tables t)
    {
        if (cps.Count == 0) return;
        int starter = Ccc(cps[0], t) == 0 ? 0 : -1;
        int lastCcc = starter == 0 ? 0 : 256;
        int write = 1;
        for (int read = 1; read < cps.Count; read++)
        {
            int cp = cps[read], c = Ccc(cp, t);
            if (starter >= 0 && (lastCcc < c || (lastCcc == 0 && write - 1 == starter)) && TryCompose(cps[starter], cp, t, out int composite))
            {
                cps[starter] = composite;
                continue;
            }
            if (c == 0) { starter = write; lastCcc = 0; }
            else lastCcc = c;
            cps[write++] = cp;
        }
        cps.RemoveRange(write, cps.Count - write);
    }

    static bool TryCompose(int a, int b, Tables t, out int composite)
    {
        if (a is >= LBase and < LBase + LCount && b is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a is >= SBase and < SBase + SCount && (a - SBase) % TCount == 0 && b is > TBase and < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return t.Composites.TryGetValue(Pair(a, b), out composite);
    }
}
