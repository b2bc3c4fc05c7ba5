namespace Surgeon.Compression;

/// <summary>Which weights pruning may zero.</summary>
public enum PrunableSet
{
    /// <summary>
    /// The set the second-order pruning papers (WoodFisher, CBS) prune: for ResNet the block-internal 3×3 convolutions
    /// only (the 18 of ResNet-20, 267,264 weights at full width; not the stem, the projection shortcuts or the
    /// classifier); for every other model all Linear and Conv2d weights.
    /// </summary>
    Paper,

    /// <summary>Every Linear and Conv2d weight.</summary>
    All,
}

/// <summary>A model whose <see cref="PrunableSet.Paper"/> set is a subset of its Linear and Conv2d weights.</summary>
internal interface IHasPaperPrunableSet
{
    /// <summary>Whether the weight of the layer named <paramref name="layerName"/> (module path) is in the paper's set.</summary>
    bool IsPaperPrunable(string layerName);
}
