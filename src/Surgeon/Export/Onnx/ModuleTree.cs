using TorchSharp;

namespace Surgeon.Export.Onnx;

/// <summary>
/// A model's submodules by their state-dict path ("layer1.0.conv1"), as named_modules() gives them, so the emitters
/// read a model's layers without the model exposing its private fields.
/// </summary>
internal sealed class ModuleTree
{
    private readonly Dictionary<string, torch.nn.Module> modules;
    private readonly string modelName;

    public ModuleTree(torch.nn.Module model)
    {
        modelName = model.GetType().Name;
        modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
    }

    public bool Has(string path) => modules.ContainsKey(path);

    public T Get<T>(string path) where T : torch.nn.Module =>
        !modules.TryGetValue(path, out var module)
            ? throw new InvalidOperationException($"{modelName} has no submodule {path}")
            : module as T ?? throw new InvalidOperationException($"{modelName}.{path} is a {module.GetType().Name}, not a {typeof(T).Name}");

    /// <summary>How many children "<paramref name="list"/>.0", ".1", … a module list has.</summary>
    public int Count(string list)
    {
        int n = 0;
        while (modules.ContainsKey($"{list}.{n}")) n++;
        return n;
    }
}
