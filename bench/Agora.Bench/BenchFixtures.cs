namespace Agora.Bench;

/// <summary>Finds the shared fixtures: $AGORA_FIXTURES, or ../shared/fixtures beside the repository root.</summary>
static class BenchFixtures
{
    public static string Path(params string[] parts)
    {
        var root = Environment.GetEnvironmentVariable("AGORA_FIXTURES");
        if (string.IsNullOrEmpty(root))
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir != null && !File.Exists(System.IO.Path.Combine(dir.FullName, "Agora.sln"))) dir = dir.Parent;
            root = System.IO.Path.Combine(dir?.FullName ?? Directory.GetCurrentDirectory(), "..", "shared", "fixtures");
        }
        return System.IO.Path.GetFullPath(System.IO.Path.Combine([root, .. parts]));
    }

    /// <summary>About <paramref name="chars"/> characters of English prose: the held-out KJV text repeated.</summary>
    public static string Prose(int chars)
    {
        var verses = File.ReadAllText(Path("text", "kjv-heldout.txt"));
        var sb = new System.Text.StringBuilder(chars + verses.Length);
        while (sb.Length < chars) sb.Append(verses);
        return sb.ToString();
    }
}
