using Surgeon.Tests.Models;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Tests.Training;

/// <summary>
/// EvalForward runs conv models on chunks of the batch: the logits of a batch that is not a multiple of the chunk must
/// equal those of the model run on each example alone, and the loss the evaluator reports must equal that loop's.
/// </summary>
public class EvalForwardTests
{
    [Theory]
    [InlineData("resnet20", 12)]
    [InlineData("mobilenet-v1", 12)]
    [InlineData("vgg13", 12)]
    [InlineData("lenet5", 16)]
    [InlineData("lenet300", 12)] // no convolutions: one batch
    public void Logits_OfAChunkedBatch_EqualEachExampleRunAlone(string name, int side)
    {
        var model = ConvModels.Create(name, [1, side, side], width: 0.25, classes: 3, seed: 4);
        ConvModels.RandomiseNorms(model);
        var data = TestModels.RandomImages(EvalForward.ConvChunk * 2 + 5, 1, side, side, 3, seed: 8);
        model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var (x, y) = data.Batch(Enumerable.Range(0, data.Count).ToArray());
        var logits = EvalForward.Logits(model, x);
        Assert.Equal([data.Count, 3], logits.shape);
        double loopLoss = 0;
        for (int i = 0; i < data.Count; i++)
        {
            var alone = model.forward(x.narrow(0, i, 1));
            var expected = alone.data<float>().ToArray();
            var actual = logits.narrow(0, i, 1).data<float>().ToArray();
            for (int c = 0; c < 3; c++) Assert.Equal(expected[c], actual[c], 1e-5f);
            loopLoss += nn.functional.cross_entropy(alone, y.narrow(0, i, 1)).item<float>();
        }
        var result = Evaluator.Evaluate(model, data, batchSize: data.Count);
        Assert.Equal(loopLoss / data.Count, result.Loss, 4);
    }
}
