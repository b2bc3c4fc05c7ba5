using System.Runtime.CompilerServices;

namespace Surgeon.Tests;

/// <summary>The test process keeps freed native memory as the command line does (<see cref="Surgeon.Numerics.NativeHeap"/>):
/// the suite's conv forwards otherwise spend their time in page faults.</summary>
internal static class NativeHeapSetup
{
#pragma warning disable CA2255 // a test assembly is the application here: this runs once before any test
    [ModuleInitializer]
    internal static void Configure() => Surgeon.Numerics.NativeHeap.Configure();
#pragma warning restore CA2255
}
