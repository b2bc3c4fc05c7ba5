using System.Text.RegularExpressions;
using Xunit;

namespace Surgeon.Tests.Build;

/// <summary>
/// TorchSharp calls that build a temporary Scalar nothing holds can fail at random when the GC finalizes it mid-call
/// (src/Surgeon/Numerics/HeldScalars.cs). The library must use the safe forms; this test finds the unsafe ones.
/// </summary>
public class UnsafeScalarCallsTests
{
    // square() (a hidden pow(2)), a C# number or double constant passed where TorchSharp wants a Scalar, and add/sub
    // with one argument (whose alpha TorchSharp passes as a temporary Scalar).
    private static readonly Regex Unsafe = new(
        @"\.square_?\(\)" +
        @"|\b(index_fill_?|masked_fill_?)\([^()]*,\s*(-?[0-9][0-9.]*|double\.\w+|float\.\w+)\s*\)" +
        @"|\.fill_\(\s*(-?[0-9]|double\.|float\.)" +
        @"|\.(eq|ne|gt|lt|ge|le|mul|div|add|sub|pow|mul_|div_|add_|sub_|pow_)\(\s*-?[0-9]" +
        // add/sub of a tensor without alpha: TorchSharp fills in alpha = 1 as an unheld Scalar (seen failing in CBS-S).
        @"|\.(add|sub)_?\((?:[^(),]|\((?:[^()]|\([^()]*\))*\))*\)",
        RegexOptions.Compiled);

    [Fact]
    public void SourcesPassHeldScalarsAndNeverSquare()
    {
        string root = RepoRoot();
        var offenders = Directory.EnumerateFiles(Path.Combine(root, "src"), "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}"))
            .SelectMany(f => File.ReadLines(f).Select((line, i) => (File: f, Line: i + 1, Text: line)))
            .Where(l => Unsafe.IsMatch(l.Text))
            .Select(l => $"{Path.GetRelativePath(root, l.File)}:{l.Line}")
            .ToList();
        Assert.True(offenders.Count == 0,
            "pass HeldScalars.Of(x) instead of a number, and TensorMath.Squared() instead of square(): " + string.Join(", ", offenders));
    }

    private static string RepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Surgeon.sln")))
                return dir.FullName;
        throw new InvalidOperationException("Surgeon.sln not found above the test assembly");
    }
}
