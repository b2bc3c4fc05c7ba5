using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>
/// The MLPNet of the WoodFisher and CBS papers: 784→40→20→10 with ReLU and no biases (32,360 weights on 28×28 inputs).
/// Inputs of any shape are flattened, so the first layer has C·H·W inputs.
/// </summary>
internal sealed class MLPNet : nn.Module<Tensor, Tensor>
{
    private readonly Linear fc1, fc2, fc3;

    public MLPNet(int inputFeatures, int numClasses, double width = 1.0) : base(nameof(MLPNet))
    {
        int h1 = Math.Max(1, (int)Math.Round(40 * width)), h2 = Math.Max(1, (int)Math.Round(20 * width));
        fc1 = nn.Linear(inputFeatures, h1, hasBias: false);
        fc2 = nn.Linear(h1, h2, hasBias: false);
        fc3 = nn.Linear(h2, numClasses, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var x = input.flatten(1);
        x = nn.functional.relu(fc1.call(x));
        x = nn.functional.relu(fc2.call(x));
        return fc3.call(x).MoveToOuterDisposeScope();
    }
}
