using System.CommandLine;
using System.Globalization;
using TorchSharp;

namespace Surgeon.Cli;

/// <summary>Options shared by several commands, and parsing helpers that turn bad values into clear errors.</summary>
internal static class CliOptions
{
    public static Option<int> RecalibrateBn() => new("--recalibrate-bn")
    {
        Description = "After pruning, re-estimate the BatchNorm running statistics on this many training samples (train-mode forward passes, " +
            "no weight change); 0 = off. In a sweep the recalibrated accuracies are reported as separate methods, <method>+bn.",
        DefaultValueFactory = _ => 0,
    };

    public static Option<string> Prunable() => new("--prunable")
    {
        Description = "Which weights may be pruned: paper = the CBS/WoodFisher papers' set (ResNet: the 18 (or 54) block-internal 3×3 convolutions " +
            "only; other models: every Linear and Conv2d weight), all = every Linear and Conv2d weight. Sparsity is a fraction of this set.",
        DefaultValueFactory = _ => "paper",
        HelpName = "paper|all",
    };

    public static Option<string?> Data(string description) => new("--data")
    {
        Description = description,
        HelpName = "digits|fashion-mnist|FOLDER",
    };

    public static Option<string> Device() => new("--device")
    {
        Description = "Device to run on: cpu, or cuda / cuda:N when a GPU is available.",
        DefaultValueFactory = _ => "cpu",
    };

    public static Option<int> Seed(string description = "Random seed; the same seed gives the same result.") => new("--seed")
    {
        Description = description,
        DefaultValueFactory = _ => 0,
    };

    public static Option<bool> Quiet() => new("--quiet", "-q") { Description = "No progress bars or info lines." };

    public static torch.Device ParseDevice(string text)
    {
        string t = text.Trim().ToLowerInvariant();
        if (t == "cpu") return torch.CPU;
        if (t.StartsWith("cuda", StringComparison.Ordinal))
        {
            if (!torch.cuda.is_available())
                throw new SurgeonException($"--device {text}: no CUDA device is available on this machine; use --device cpu");
            return torch.device(t);
        }
        throw new SurgeonException($"unknown device '{text}': use cpu or cuda");
    }

    public static IReadOnlyList<double> ParseDoubles(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new SurgeonException($"{option} is empty");
        var values = parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new SurgeonException($"{option}: '{p}' is not a number")).ToList();
        if (values.Distinct().Count() != values.Count) throw new SurgeonException($"{option} lists a value twice");
        return values;
    }

    public static IReadOnlyList<int> ParseInts(string text, string option)
    {
        var parts = text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length == 0) throw new SurgeonException($"{option} is empty");
        var values = parts.Select(p => int.TryParse(p, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v)
            ? v
            : throw new SurgeonException($"{option}: '{p}' is not a whole number")).ToList();
        if (values.Distinct().Count() != values.Count) throw new SurgeonException($"{option} lists a value twice");
        return values;
    }

    /// <summary>The folders of a --data value are inputs: no output of the run may replace a file in them.</summary>
    public static Surgeon.IO.RunPaths ReadsData(this Surgeon.IO.RunPaths paths, string? dataSpec)
    {
        foreach (string folder in Surgeon.Data.DatasetCatalog.Folders(dataSpec))
            paths.ReadsFolder(folder, "the --data folder");
        return paths;
    }

    /// <summary>
    /// The dataset a run on <paramref name="checkpoint"/> reads: --data when given, else the one its sidecar names
    /// (null when the sidecar cannot be read: loading the checkpoint then reports why).
    /// </summary>
    public static string? DataOf(string? given, string checkpoint)
    {
        if (given is not null) return given;
        try { return Surgeon.Training.Checkpoint.ReadInfo(checkpoint).Dataset; }
        catch (SurgeonException) { return null; }
        catch (IOException) { return null; }
        catch (UnauthorizedAccessException) { return null; }
    }

    /// <summary>The count of a subset option (--train-subset, --test-subset): 0 means every image, negatives are refused.</summary>
    public static int SubsetCount(int count, string option) =>
        count >= 0 ? count : throw new SurgeonException($"{option} must be 0 (all) or a positive count, got {count}");
}
