using Mono.Cecil;
using Mono.Cecil.Cil;

namespace Surgeon.Tests.Architecture;

/// <summary>
/// The library's folders form layers in pipeline order (docs/architecture.md): a folder may use the folders before it
/// and its own, never one after it. Read from the compiled IL, so a dependency anywhere counts: base types, fields,
/// signatures, attributes, locals and every type or member an instruction names (lambdas and iterators included,
/// as they compile to nested types of the type that wrote them).
/// </summary>
public class LayerTests
{
    /// <summary>The layers, lowest first. The core (the root namespace, IO, Progress, Numerics) is one layer.</summary>
    public static readonly string[][] Layers =
    [
        ["Surgeon", "Surgeon.IO", "Surgeon.Progress", "Surgeon.Numerics"],
        ["Surgeon.Data"],
        ["Surgeon.Compression"],
        ["Surgeon.Models"],
        ["Surgeon.Training"],
        ["Surgeon.Curvature"],
        ["Surgeon.Scoring"],
        ["Surgeon.Selection"],
        ["Surgeon.Update"],
        ["Surgeon.Quantization"],
        ["Surgeon.Modifiers"],
        ["Surgeon.Pruning"],
        ["Surgeon.Continual"],
        ["Surgeon.Reports"],
        ["Surgeon.Export"],
        ["Surgeon.Benchmarking"],
        ["Surgeon.Api"],
    ];

    [Fact]
    public void NoFolderOfTheLibraryUsesAFolderAfterIt()
    {
        var violations = BackImports(typeof(SurgeonException).Assembly.Location);
        Assert.True(violations.Count == 0,
            $"{violations.Count} back-import(s), each 'user → what it uses (where)':\n" + string.Join("\n", violations.Take(40)));
    }

    [Fact]
    public void TheCheckFindsABackImportInAMethodBody()
    {
        // Itself a check of the scan: this test assembly's own types are scanned as if they were the library's
        // folders, and a lambda in Models that news up a Pruning type must be found.
        var found = Dependencies(typeof(Fixture.Models.UsesPruningInALambda)).ToList();
        Assert.Contains(found, d => d.Target == typeof(Fixture.Pruning.Driver).FullName);
    }

    [Fact]
    public void TheLibraryNeverWritesToTheConsole()
    {
        using var module = ModuleDefinition.ReadModule(typeof(SurgeonException).Assembly.Location);
        var users = AllTypes(module).SelectMany(t => Dependencies(t).Where(d => d.Target == "System.Console")
            .Select(d => $"{t.FullName} ({d.Where})")).Distinct().ToList();
        Assert.True(users.Count == 0, "progress goes through IProgressReporter; these use System.Console: " + string.Join(", ", users));
    }

    [Fact]
    public void TheTestsMirrorTheLibrarysFolders()
    {
        string tests = Path.Combine(RepositoryRoot(), "tests", "Surgeon.Tests");
        string library = Path.Combine(RepositoryRoot(), "src", "Surgeon");
        string[] ownFolders = ["Architecture", "Build", "Cli", "bin", "obj"];
        var strays = Directory.GetDirectories(tests).Select(Path.GetFileName)
            .Where(d => !ownFolders.Contains(d) && !Directory.Exists(Path.Combine(library, d!))).ToList();
        Assert.True(strays.Count == 0, $"test folders without a library folder of the same name: {string.Join(", ", strays)}");
    }

    public static List<string> BackImports(string assemblyPath)
    {
        using var module = ModuleDefinition.ReadModule(assemblyPath);
        var violations = new List<string>();
        foreach (var type in AllTypes(module))
        {
            int? from = LayerOf(type.Namespace.Length > 0 ? type.Namespace : OuterNamespace(type));
            if (from is null)
            {
                if (type.Namespace.StartsWith("Surgeon", StringComparison.Ordinal))
                    violations.Add($"{type.FullName}: namespace {type.Namespace} is in no layer; add its folder to {nameof(Layers)}");
                continue;
            }
            foreach (var (target, where) in Dependencies(type).Distinct())
            {
                int? to = LayerOf(NamespaceOf(target));
                if (to > from)
                    violations.Add($"{type.FullName} → {target} ({where})");
            }
        }
        return violations;
    }

    private static IEnumerable<TypeDefinition> AllTypes(ModuleDefinition module)
    {
        var stack = new Stack<TypeDefinition>(module.Types);
        while (stack.Count > 0)
        {
            var t = stack.Pop();
            yield return t;
            foreach (var n in t.NestedTypes) stack.Push(n);
        }
    }

    private static IEnumerable<(string Target, string Where)> Dependencies(Type type)
    {
        using var module = ModuleDefinition.ReadModule(type.Assembly.Location);
        var definition = AllTypes(module).Single(t => t.FullName == type.FullName!.Replace('+', '/'));
        var nested = AllTypes(module).Where(t => t.FullName.StartsWith(definition.FullName + "/", StringComparison.Ordinal));
        return new[] { definition }.Concat(nested).SelectMany(Dependencies).ToList();
    }

    /// <summary>Every type the definition names, with where it names it.</summary>
    private static IEnumerable<(string Target, string Where)> Dependencies(TypeDefinition type)
    {
        if (type.BaseType is not null)
            foreach (var t in Named(type.BaseType)) yield return (t, "base type");
        foreach (var i in type.Interfaces)
            foreach (var t in Named(i.InterfaceType)) yield return (t, "interface");
        foreach (var a in type.CustomAttributes)
            foreach (var t in Named(a.AttributeType)) yield return (t, "attribute");
        foreach (var f in type.Fields)
            foreach (var t in Named(f.FieldType)) yield return (t, $"field {f.Name}");
        foreach (var p in type.Properties)
            foreach (var t in Named(p.PropertyType)) yield return (t, $"property {p.Name}");
        foreach (var m in type.Methods)
        {
            string where = $"method {m.Name}";
            foreach (var t in Named(m.ReturnType)) yield return (t, where);
            foreach (var p in m.Parameters)
                foreach (var t in Named(p.ParameterType)) yield return (t, where);
            foreach (var a in m.CustomAttributes)
                foreach (var t in Named(a.AttributeType)) yield return (t, where);
            if (!m.HasBody) continue;
            foreach (var v in m.Body.Variables)
                foreach (var t in Named(v.VariableType)) yield return (t, $"{where}, a local");
            foreach (var instruction in m.Body.Instructions)
                foreach (var t in OperandTypes(instruction)) yield return (t, $"{where}, body");
        }
    }

    private static IEnumerable<string> OperandTypes(Instruction instruction) => instruction.Operand switch
    {
        TypeReference t => Named(t),
        MethodReference m => Named(m.DeclaringType).Concat(Named(m.ReturnType)).Concat(m.Parameters.SelectMany(p => Named(p.ParameterType)))
            .Concat(m is GenericInstanceMethod g ? g.GenericArguments.SelectMany(Named) : []),
        FieldReference f => Named(f.DeclaringType).Concat(Named(f.FieldType)),
        _ => [],
    };

    /// <summary>The full names of the types a reference mentions (element types and generic arguments included).</summary>
    private static IEnumerable<string> Named(TypeReference? reference)
    {
        switch (reference)
        {
            case null or GenericParameter:
                yield break;
            case GenericInstanceType g:
                foreach (var t in Named(g.ElementType)) yield return t;
                foreach (var t in g.GenericArguments.SelectMany(Named)) yield return t;
                yield break;
            case TypeSpecification s:
                foreach (var t in Named(s.ElementType)) yield return t;
                yield break;
            default:
                yield return reference.DeclaringType is null ? reference.FullName : Named(reference.DeclaringType).First();
                yield break;
        }
    }

    private static string NamespaceOf(string fullName)
    {
        int dot = fullName.LastIndexOf('.');
        return dot < 0 ? "" : fullName[..dot];
    }

    private static string OuterNamespace(TypeDefinition type)
    {
        while (type.DeclaringType is not null) type = type.DeclaringType;
        return type.Namespace;
    }

    /// <summary>The index of the layer holding <paramref name="ns"/> (sub-namespaces belong to their folder), or null
    /// for a namespace outside the library.</summary>
    private static int? LayerOf(string ns)
    {
        if (ns.StartsWith("Surgeon.Tests.Architecture.Fixture.", StringComparison.Ordinal))
            ns = "Surgeon." + ns["Surgeon.Tests.Architecture.Fixture.".Length..];
        int? best = null;
        int bestLength = -1;
        for (int i = 0; i < Layers.Length; i++)
            foreach (var folder in Layers[i])
                if ((ns == folder || (folder != "Surgeon" && ns.StartsWith(folder + ".", StringComparison.Ordinal))) && folder.Length > bestLength)
                {
                    best = i;
                    bestLength = folder.Length;
                }
        return best;
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Surgeon.sln"))) return dir.FullName;
        throw new InvalidOperationException("Surgeon.sln not found above the test binaries");
    }
}
