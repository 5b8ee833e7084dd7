using System.Text;

namespace Agora.Inference.Generation;

/// <summary>
/// Sits between the detokenizer and the caller: passes generated text on, except that text which might be the
/// start of a stop string is held until the next pieces decide, and at a stop string everything from it on is
/// dropped. Since whatever could begin a match is always held, every match starts inside the held text.
/// </summary>
internal sealed class StopStringFilter
{
    readonly IReadOnlyList<string> _stops;
    readonly StringBuilder _held = new();

    public StopStringFilter(IReadOnlyList<string> stops) => _stops = stops;

    /// <summary>The stop string met, once one has been.</summary>
    public string? Matched { get; private set; }

    /// <summary>Adds generated text; returns what can be given out now (after a match: the text before it).</summary>
    public string Push(string text)
    {
        if (_stops.Count == 0 || Matched != null) return Matched != null ? "" : text;
        _held.Append(text);
        var held = _held.ToString();
        int first = -1;
        foreach (var stop in _stops)
        {
            int at = held.IndexOf(stop, StringComparison.Ordinal);
            if (at >= 0 && (first < 0 || at < first)) { first = at; Matched = stop; }
        }
        _held.Clear();
        if (first >= 0) return held[..first];
        int keep = LongestStopPrefixSuffix(held);
        _held.Append(held, held.Length - keep, keep);
        return held[..^keep];
    }

    /// <summary>The held text, given out at the end of generation when no stop string can complete any more.</summary>
    public string Flush()
    {
        var held = _held.ToString();
        _held.Clear();
        return held;
    }

    /// <summary>The length of the longest end of <paramref name="text"/> that a stop string starts with.</summary>
    int LongestStopPrefixSuffix(string text)
    {
        int longest = 0;
        foreach (var stop in _stops)
        {
            for (int length = Math.Min(stop.Length - 1, text.Length); length > longest; length--)
            {
                if (text.AsSpan(text.Length - length).SequenceEqual(stop.AsSpan(0, length)))
                {
                    longest = length;
                    break;
                }
            }
        }
        return longest;
    }
}
