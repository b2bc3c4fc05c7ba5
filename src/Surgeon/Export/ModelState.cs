using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Export;

/// <summary>
/// A model's whole state (its state dict: every parameter and persistent buffer, in state-dict order) copied out as
/// raw bytes, and copied back in. Bytes, not floats, so that a round trip is bit-exact, −0.0 and NaN payloads included.
/// </summary>
internal static class ModelState
{
    public static IReadOnlyList<StateTensor> Read(nn.Module model)
    {
        EnsureLittleEndian();
        var result = new List<StateTensor>();
        using var scope = NewDisposeScope();
        foreach (var (name, tensor) in model.state_dict())
        {
            var cpu = tensor.detach().cpu().contiguous();
            result.Add(new StateTensor(name, ElementTypes.NameOf(cpu.dtype), cpu.shape.ToArray(), cpu.bytes.ToArray()));
        }
        return result;
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> into the model's state by name. Every tensor must exist in the model with the
    /// same element type and shape (callers check and report mismatches first; this is the last line of defence).
    /// State entries not named keep their values.
    /// </summary>
    public static void Assign(nn.Module model, IEnumerable<StateTensor> tensors)
    {
        EnsureLittleEndian();
        var state = model.state_dict();
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var t in tensors)
        {
            if (!state.TryGetValue(t.Name, out var target))
                throw new SurgeonException($"the model has no tensor {t.Name}");
            if (ElementTypes.NameOf(target.dtype) != t.DType || !target.shape.AsSpan().SequenceEqual(t.Shape))
                throw new SurgeonException(
                    $"{t.Name} is {t.DType} {t.ShapeText} but the model needs {ElementTypes.NameOf(target.dtype)} {StateTensor.ShapeTextOf(target.shape)}");
            if (t.Data.LongLength != t.Elements * t.ElementSize)
                throw new SurgeonException($"{t.Name} has {t.Data.LongLength} bytes of data, not the {t.Elements * t.ElementSize} its shape needs");
            var source = empty(t.Shape, target.dtype);
            source.bytes = t.Data;
            target.copy_(source);
        }
    }

    /// <summary>
    /// Checks that <paramref name="tensors"/> are exactly the model's state: the same names, element types and shapes.
    /// <paramref name="what"/> names the file in the message.
    /// </summary>
    public static void RequireExactMatch(nn.Module model, IReadOnlyList<StateTensor> tensors, string what, string describeModel) =>
        RequireExactMatch(model.state_dict().Select(kv => (kv.Key, kv.Value.dtype, kv.Value.shape)).ToList(),
            tensors.Select(t => (t.Name, t.DType, t.Shape)).ToList(), what, describeModel);

    /// <summary>The same check on a model's state given as (name, dtype, shape) (e.g. <see cref="Models.ModelRegistry.StateOf"/>,
    /// which needs no model in memory) and a file's table (name, dtype name, shape), before any tensor data is decoded.</summary>
    public static void RequireExactMatch(IReadOnlyList<(string Name, ScalarType DType, long[] Shape)> state,
        IReadOnlyList<(string Name, string DType, long[] Shape)> table, string what, string describeModel)
    {
        var expected = state.ToDictionary(t => t.Name, t => (t.DType, t.Shape));
        var (missing, unexpected) = NameList.Differences(expected.Keys, table.Select(t => t.Name).ToList());
        if (missing.Count > 0 || unexpected.Count > 0)
            throw new SurgeonException(
                $"{what} does not hold the state of the {describeModel} its header describes (" +
                NameList.DescribeDifferences(missing, unexpected) + "); re-export it");
        foreach (var t in table)
        {
            var want = expected[t.Name];
            string dtype = ElementTypes.NameOf(want.DType);
            if (t.DType != dtype || !want.Shape.AsSpan().SequenceEqual(t.Shape))
                throw new SurgeonException(
                    $"{what}: {t.Name} is {t.DType} {StateTensor.ShapeTextOf(t.Shape)} but a {describeModel} needs {dtype} {StateTensor.ShapeTextOf(want.Shape)}; re-export it");
        }
    }

    private static void EnsureLittleEndian()
    {
        // Both file formats are little-endian and tensors are copied as raw bytes.
        if (!BitConverter.IsLittleEndian)
            throw new SurgeonException("sparse and safetensors files are little-endian; this machine is big-endian, which surgeon does not support");
    }
}
