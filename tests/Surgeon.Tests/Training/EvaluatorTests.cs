using Surgeon.Tests.Models;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Tests.Training;

/// <summary>
/// The evaluator runs its forward passes with oneDNN convolutions on (faster; their outputs are right, only their input
/// gradients are not). Its accuracy and loss must equal those of a plain loop over the samples on the default path.
/// </summary>
public class EvaluatorTests
{
    [Theory]
    [InlineData("resnet20", 12)]
    [InlineData("mobilenet-v1", 12)]
    [InlineData("vgg13", 12)]
    [InlineData("lenet5", 16)] // two valid 5×5 convs need at least 16×16
    public void AccuracyAndLoss_EqualAPlainPerSampleLoop_OnTheDefaultConvolutionPath(string name, int side)
    {
        var model = ConvModels.Create(name, [1, side, side], width: 0.25, classes: 3, seed: 4);
        ConvModels.RandomiseNorms(model);
        var data = TestModels.RandomImages(37, 1, side, side, 3, seed: 8);
        var result = Evaluator.Evaluate(model, data, batchSize: 16);

        model.eval();
        double loss = 0;
        int correct = 0;
        using (no_grad())
        {
            for (int i = 0; i < data.Count; i++)
            {
                using var scope = NewDisposeScope();
                var (x, y) = data.Batch([i]);
                var logits = model.forward(x);
                loss += nn.functional.cross_entropy(logits, y).item<float>();
                if (logits.argmax(1).item<long>() == y.item<long>()) correct++;
            }
        }
        Assert.Equal(37, result.Samples);
        Assert.Equal(correct / 37.0, result.Accuracy, 12);
        Assert.Equal(loss / 37, result.Loss, 4);
        // oneDNN is off again after evaluating: a narrow conv's input gradient is right (with it on, it mostly is not).
        new Numerics.ConvolutionBackendTests().NarrowConv_InputGradientMatchesAFloat64Reference(4, 28);
    }
}
