using Surgeon.Training;
using System.CommandLine;
using Surgeon.Reports;

namespace Surgeon.Cli.Commands;

/// <summary>Compares the training dynamics of several runs (e.g. one per importance measure, seeds averaged).</summary>
internal static class PlotDynamicsCommand
{
    public static Command Create()
    {
        var runs = new Argument<string[]>("runs")
        {
            Description = "LABEL=PATH.dynamics.csv pairs; runs with the same label (e.g. seeds) are averaged, with ±std bars.",
            Arity = ArgumentArity.OneOrMore,
        };
        var quantity = new Option<string>("--quantity", "-q")
        {
            Description = $"What to plot against the epoch: {string.Join(", ", DynamicsQuantity.All.Select(q => q.Name))}, or 'all' for six panels.",
            DefaultValueFactory = _ => "train_loss",
        };
        var output = new Option<string>("--out", "-o") { Description = "PNG to write.", Required = true };
        var title = new Option<string?>("--title") { Description = "Plot title (default: the quantity)." };
        var command = new Command("plot-dynamics", "Plot training dynamics recorded by 'surgeon train' (PATH.dynamics.csv) for several runs in one figure.")
        {
            runs, quantity, output, title,
        };
        command.SetAction(r => Program.Guard(() =>
        {
            string path = r.GetValue(output)!;
            if (!path.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                throw new SurgeonException($"--out {path}: the plot is a PNG; give a file name ending in .png");
            var pairs = new List<(string Label, string Csv)>();
            foreach (var pair in r.GetValue(runs)!)
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0 || eq == pair.Length - 1)
                    throw new SurgeonException($"'{pair}' is not LABEL=PATH (e.g. grasp=runs/vgg-grasp-s0.ckpt.dynamics.csv)");
                pairs.Add((pair[..eq], pair[(eq + 1)..]));
            }
            var paths = new Surgeon.IO.RunPaths().Writes(path, "--out");
            foreach (var (_, csv) in pairs) paths.Reads(csv, $"the dynamics {csv}");
            paths.Check();
            var loaded = new List<(string Label, IReadOnlyList<DynamicsRecord> Records)>();
            foreach (var (label, csv) in pairs)
            {
                var records = DynamicsLog.ReadCsv(csv);
                if (records.Count == 0)
                    throw new SurgeonException($"{csv} has a header but no records: the run stopped before its first one; drop it");
                loaded.Add((label, records));
            }
            string q = r.GetValue(quantity)!;
            if (q.Equals("all", StringComparison.OrdinalIgnoreCase))
                DynamicsPlot.WritePanels(path, loaded);
            else
                DynamicsPlot.Write(path, loaded, DynamicsQuantity.Get(q), r.GetValue(title));
            Console.WriteLine($"wrote {path}");
            return 0;
        }));
        return command;
    }
}
