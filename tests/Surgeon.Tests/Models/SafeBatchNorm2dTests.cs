using Surgeon.Models;
using TorchSharp;
using Xunit;
using static TorchSharp.torch;

namespace Surgeon.Tests.Models;

public class SafeBatchNorm2dTests
{
    [Fact]
    public void MatchesTorchSharpsBatchNorm_InTrainAndEvalMode_WithTheSameStateNames()
    {
        manual_seed(3);
        var reference = nn.BatchNorm2d(4);
        var safe = new SafeBatchNorm2d(4);
        using (no_grad())
        {
            reference.weight!.copy_(randn(4));
            reference.bias!.copy_(randn(4));
            safe.weight.copy_(reference.weight);
            safe.bias.copy_(reference.bias);
        }
        Assert.Equal(reference.state_dict().Keys.OrderBy(k => k), safe.state_dict().Keys.OrderBy(k => k));
        for (int step = 0; step < 3; step++)
        {
            var x = randn(5, 4, 3, 3) * 2 + 1;
            reference.train(); safe.train();
            Assert.True(reference.call(x).allclose(safe.call(x), rtol: 1e-5, atol: 1e-6));
        }
        Assert.True(reference.running_mean!.allclose(safe.running_mean, rtol: 1e-5, atol: 1e-6));
        Assert.True(reference.running_var!.allclose(safe.running_var, rtol: 1e-5, atol: 1e-6));
        Assert.Equal(3L, safe.num_batches_tracked.item<long>());
        reference.eval(); safe.eval();
        var y = randn(2, 4, 3, 3);
        Assert.True(reference.call(y).allclose(safe.call(y), rtol: 1e-5, atol: 1e-6));
        Assert.Throws<ArgumentException>(() => safe.call(randn(2, 3, 3, 3)));
    }
}
