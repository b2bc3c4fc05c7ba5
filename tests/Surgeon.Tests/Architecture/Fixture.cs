namespace Surgeon.Tests.Architecture.Fixture.Pruning
{
    /// <summary>Stands for a driver in a high layer.</summary>
    public sealed class Driver
    {
        public int Run() => 1;
    }
}

namespace Surgeon.Tests.Architecture.Fixture.Models
{
    /// <summary>A type in a low layer that uses a high one only inside a lambda: the scan must see it.</summary>
    public static class UsesPruningInALambda
    {
        public static Func<int> Make() => () => new Pruning.Driver().Run();
    }
}
