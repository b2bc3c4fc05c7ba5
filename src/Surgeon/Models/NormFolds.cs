using TorchSharp;
using TorchSharp.Modules;

namespace Surgeon.Models;

internal enum FoldDirection
{
    /// <summary>The norm directly follows a conv: BN(W∗x + b) = (s·W)∗x + (s·b + t).</summary>
    IntoPrecedingConv,

    /// <summary>Only per-channel linear maps (global average pooling) lie between the norm and a linear layer.</summary>
    IntoFollowingLinear,
}

/// <summary>An inference-mode BatchNorm that folds exactly into a neighbouring layer (module paths).</summary>
internal sealed record NormFold(string Norm, string Layer, FoldDirection Direction);

/// <summary>
/// Which BatchNorms of a registry model fold exactly into a neighbour (see <see cref="BatchNormFolding"/>): in
/// MobileNet-V1 and the ResNets every norm directly follows its conv ("x.bnK" after "x.convK", "shortcut.bn" after
/// "shortcut.conv", "bn1" after "conv1"); in VGG-13 (conv → ReLU → BN) none folds into a conv, and the last one folds
/// into the classifier when no max-pool follows it; MLPNet, LeNet-5 and LeNet-300-100 have none; an imported ONNX graph folds
/// each norm that alone reads a conv's output (<see cref="Onnx.OnnxNormFolds"/>). The same folds as ONNX export makes, so a
/// quantised model and its exported graph quantise the same weights.
/// </summary>
internal static class NormFolds
{
    public static IReadOnlyList<NormFold> Of(torch.nn.Module model)
    {
        var modules = model.named_modules().ToDictionary(m => m.name, m => m.module, StringComparer.Ordinal);
        switch (model)
        {
            case MLPNet:
            case LeNet5:
            case LeNet300:
                return [];
            case Vgg13 vgg:
                int last = vgg.PoolAfter.Count - 1;
                return vgg.PoolAfter[last] ? [] : [new NormFold($"features.{last}.bn", "classifier", FoldDirection.IntoFollowingLinear)];
            case MobileNetV1:
            case CifarResNet:
                var folds = new List<NormFold>();
                foreach (var (name, module) in modules)
                {
                    if (module is not SafeBatchNorm2d) continue;
                    string conv = ConvBefore(name);
                    if (!modules.TryGetValue(conv, out var layer) || layer is not Conv2d)
                        throw new InvalidOperationException($"{model.GetType().Name}: the BatchNorm {name} has no conv {conv} before it");
                    folds.Add(new NormFold(name, conv, FoldDirection.IntoPrecedingConv));
                }
                return folds;
            case Onnx.OnnxGraphModel graph:
                return Onnx.OnnxNormFolds.Of(graph);
            default:
                throw new SurgeonException($"BatchNorm folding does not know the {model.GetType().Name} model; it knows {string.Join(", ", ModelRegistry.Names)}");
        }
    }

    /// <summary>"layer1.0.bn2" → "layer1.0.conv2", "shortcut.bn" → "shortcut.conv", "bn1" → "conv1".</summary>
    private static string ConvBefore(string norm)
    {
        int dot = norm.LastIndexOf('.');
        string last = norm[(dot + 1)..];
        if (!last.StartsWith("bn", StringComparison.Ordinal))
            throw new InvalidOperationException($"a BatchNorm named {norm} does not follow the xx.bnK naming");
        return norm[..(dot + 1)] + "conv" + last[2..];
    }
}
