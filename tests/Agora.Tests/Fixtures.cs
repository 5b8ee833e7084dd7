namespace Agora.Tests;

/// <summary>
/// The one way tests reach the shared reference data: $AGORA_FIXTURES, or ../shared/fixtures beside the repo root.
/// A test that needs a missing fixture is skipped with a message saying where it looked.
/// </summary>
public static class Fixtures
{
    public static readonly string Root = Locate();

    static string Locate()
    {
        var env = Environment.GetEnvironmentVariable("AGORA_FIXTURES");
        if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "Agora.sln"))) dir = dir.Parent;
        var repo = dir?.FullName ?? Directory.GetCurrentDirectory();
        return Path.GetFullPath(Path.Combine(repo, "..", "shared", "fixtures"));
    }

    /// <summary>The full path of a fixture file or folder; skips the calling test when it is absent.</summary>
    public static string Require(params string[] parts)
    {
        var path = Path.Combine([Root, .. parts]);
        if (!File.Exists(path) && !Directory.Exists(path))
            Assert.Skip($"fixture {path} not found (set AGORA_FIXTURES to the shared fixtures folder)");
        return path;
    }
}
