using Surgeon.Compression;
using static TorchSharp.torch;

namespace Surgeon.Pruning;

/// <summary>
/// The key of a sweep's journal lines: everything a point's result depends on besides its method, sparsity and seed
/// (the dense weights' hash, the data, the method options, the prunable set where it changes the weights, the test
/// subset). Lines with another key are another sweep's.
/// </summary>
internal static class SweepKey
{
    public static string Of(string weightsSha256, string dataSpec, PruningOptions options, nn.Module model,
        PrunableSet prunable, int testSubset)
    {
        string key = $"{weightsSha256}|{dataSpec}|{options}";
        // The prunable set joins the key only where it changes the weights (ResNet), so journals of other models stay valid.
        if (!PrunableParameters.SameInBoth(model)) key += $"|prunable={prunable}";
        if (testSubset > 0) key += $"|test-subset={testSubset}";
        return key;
    }
}
