using static TorchSharp.torch;

namespace Surgeon.Numerics;

/// <summary>Safe replacements for TorchSharp calls that create a Scalar nothing holds (see <see cref="HeldScalars"/>).</summary>
internal static class TensorMath
{
    /// <summary>
    /// x² elementwise. TorchSharp's <c>square()</c> is <c>pow(2)</c> with a temporary Scalar that the GC may finalize
    /// during the native call ("Unknown scalar type", seen in the soak benchmark); x·x has no Scalar and the same value.
    /// </summary>
    public static Tensor Squared(this Tensor x) => x.mul(x);
}
