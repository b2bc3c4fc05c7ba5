using Surgeon.Modifiers;
using Surgeon.Pruning;
using Xunit;

namespace Surgeon.Tests.Modifiers;

public class FilterPruningScheduleTests
{
    [Theory]
    [InlineData(0.75, 1)]
    [InlineData(0.75, 4)]
    [InlineData(0.5, 3)]
    [InlineData(0.9, 10)]
    public void RoundsCompoundToTheTarget_WithACompressionRatioLinearInTheRound(double p, int n)
    {
        var schedule = new FilterPruningSchedule(p, n);
        double remaining = 1;
        for (int k = 1; k <= n; k++)
        {
            remaining *= 1 - schedule.FractionAt(k);
            Assert.Equal(1 + k * p / (n * (1 - p)), 1 / remaining, 10);
        }
        Assert.Equal(1 - p, remaining, 12);
    }

    [Fact]
    public void RoundsFollowTheStartEpoch()
    {
        var schedule = new FilterPruningSchedule(0.5, Rounds: 3, StartEpoch: 2);
        int[] rounds = Enumerable.Range(0, 7).Select(schedule.RoundAfter).ToArray();
        Assert.Equal([0, 0, 1, 2, 3, 0, 0], rounds);
        Assert.Equal(1, new FilterPruningSchedule(0.5, 1, 0).RoundAfter(0)); // at initialisation
    }

    [Theory]
    [InlineData(1.0, 1, 1, 10, "--prune-target")]
    [InlineData(-0.1, 1, 1, 10, "--prune-target")]
    [InlineData(0.5, 0, 1, 10, "--prune-rounds")]
    [InlineData(0.5, 1, -1, 10, "--prune-start")]
    [InlineData(0.5, 5, 8, 10, "--epochs")]
    public void BadSchedulesAreRejected(double p, int n, int start, int epochs, string mentioned)
    {
        var e = Assert.Throws<SurgeonException>(() => new FilterPruningSchedule(p, n, start).Validate(epochs));
        Assert.Contains(mentioned, e.Message);
    }
}
