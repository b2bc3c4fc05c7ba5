using System.CommandLine;
using Spectre.Console;
using Surgeon.Compression;
using Surgeon.Pruning;

namespace Surgeon.Cli.Commands;

/// <summary>surgeon methods: every score, rule, selection, update and modifier, what each needs, and how they combine.</summary>
internal static class MethodsCommand
{
    public static Command Create()
    {
        var command = new Command("methods", "List every score, rule, joint selection, update and training modifier with what each needs " +
            "(gradients, a Fisher, data, filter groups), the aliases, and which combinations are valid.");
        command.SetAction(_ => Program.Guard(() =>
        {
            AnsiConsole.WriteLine("A method is score[@rule][+update] or selection[+update]; the rule defaults to global. Examples: " +
                string.Join(", ", PruningMethods.Examples) + ".");
            Print("scores (higher = kept; per weight, or aggregated per filter with @filter)", PruningMethods.Scores,
                s => ((IScore)s).ScoresWeights ? "weights, filters" : "filters only");
            Print("rules (turn scores into what is pruned)", PruningMethods.Rules, s => ((IRule)s).PrunesFilters ? "filters" : "weights");
            Print("joint selections (choose the pruned weights themselves; no @rule)", PruningMethods.Selections, _ => "weights");
            Print("updates (+update: change the kept weights after a weight rule or a selection)", PruningMethods.Updates, _ => "weights");
            var aliases = new Table().Border(TableBorder.Rounded).Title("aliases (the names from before the grammar; same results)");
            aliases.AddColumn("alias");
            aliases.AddColumn("method");
            aliases.AddColumn("description");
            foreach (var (alias, method, description) in PruningMethods.Aliases)
                aliases.AddRow(Markup.Escape(alias), Markup.Escape(method), Markup.Escape(description));
            AnsiConsole.Write(aliases);
            var modifiers = new Table().Border(TableBorder.Rounded).Title("training modifiers (surgeon train/finetune --recipe R.yaml; docs/recipes/)");
            modifiers.AddColumn("modifier");
            modifiers.AddColumn("what it does");
            modifiers.AddColumn("fields");
            foreach (var m in Recipe.Kinds)
                modifiers.AddRow(Markup.Escape(m.Name), Markup.Escape(m.Description), Markup.Escape(string.Join(", ", m.Fields)));
            AnsiConsole.Write(modifiers);
            AnsiConsole.WriteLine("Valid combinations: any score with @global or @layer (except bn-scale, filters only); any score with @filter on a model " +
                "with filter groups (vgg13, mobilenet-v1, resnet20/56), no update after it; +obs or +cbs-u after a weight rule or cbs-s. " +
                "Stages that need data or a Fisher are checked before any work (--data, --fisher-samples).");
            return 0;
        }));
        return command;
    }

    private static void Print(string title, IEnumerable<IMethodStage> stages, Func<IMethodStage, string> unit)
    {
        var table = new Table().Border(TableBorder.Rounded).Title(Markup.Escape(title));
        table.AddColumn("name");
        table.AddColumn("prunes");
        table.AddColumn("needs");
        table.AddColumn("description");
        foreach (var s in stages)
            table.AddRow(Markup.Escape(s.Name), unit(s), Markup.Escape(Needs(s.Needs)), Markup.Escape(s.Description));
        AnsiConsole.Write(table);
    }

    private static string Needs(StageNeeds needs) => needs == StageNeeds.None
        ? "nothing (weights only)"
        : string.Join(", ", Enum.GetValues<StageNeeds>().Where(n => n != StageNeeds.None && needs.HasFlag(n)).Select(n => n switch
        {
            StageNeeds.Data => "training data",
            StageNeeds.Gradients => "gradients",
            StageNeeds.HessianProducts => "Hessian-vector products",
            StageNeeds.Fisher => "empirical Fisher",
            StageNeeds.FilterGroups => "filter groups",
            _ => n.ToString(),
        }));
}
