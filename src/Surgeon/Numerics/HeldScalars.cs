using System.Collections.Concurrent;
using TorchSharp;

namespace Surgeon.Numerics;

/// <summary>
/// Scalars kept alive for the life of the process, one per value. TorchSharp 0.107 turns a C# number passed to a tensor
/// op into a Scalar that nothing holds during the native call, so the GC finalizer can free it while libtorch reads it
/// (seen as random "Expected false to be true" / "Unknown scalar type" errors). Hot loops pass held Scalars instead:
/// <c>x.div_(HeldScalars.Of(n))</c>. Only a handful of distinct values (N, λ, 1, 2) are ever used, so the cache stays tiny.
/// </summary>
public static class HeldScalars
{
    private static readonly ConcurrentDictionary<double, Scalar> Cache = new();

    /// <summary>A Scalar for <paramref name="value"/> that lives as long as the process, so native calls never see it finalised.</summary>
    public static Scalar Of(double value) => Cache.GetOrAdd(value, v => v.ToScalar());

    /// <summary>The held Scalar 1 (e.g. the alpha of <c>add</c>).</summary>
    public static Scalar One => Of(1.0);
}
