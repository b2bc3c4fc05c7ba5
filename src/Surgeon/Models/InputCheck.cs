using static TorchSharp.torch;

namespace Surgeon.Models;

/// <summary>Checks a batch against the spec before it reaches native code, so a wrong input is a clear error.</summary>
internal static class InputCheck
{
    public static void Images(Tensor input, ModelSpec spec)
    {
        if (input.dim() != 4 || input.shape[1] != spec.InputShape[0])
            throw new SurgeonException(
                $"{spec.Architecture} expects N×{spec.InputShape[0]}×H×W inputs, got [{string.Join('×', input.shape)}]");
    }
}
