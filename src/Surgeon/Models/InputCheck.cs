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

    /// <summary>
    /// The check the multi-task networks (one head per task) share before any matmul: <paramref name="task"/> is one of
    /// the <paramref name="taskCount"/> tasks learnt and each sample flattens to <paramref name="inputs"/> values (a
    /// matmul of mismatched shapes aborts the process in native code). Returns the batch flattened to N×inputs.
    /// </summary>
    public static Tensor TaskBatch(string network, int task, int taskCount, Tensor input, long inputs)
    {
        if (task < 0 || task >= taskCount)
            throw new SurgeonException($"task {task + 1} is not one of the {taskCount} tasks learnt");
        if (input.dim() < 2 || input.shape.Skip(1).Aggregate(1L, (a, b) => a * b) != inputs)
            throw new SurgeonException($"the {network} takes {inputs} inputs per sample, got [{string.Join('×', input.shape)}]");
        return input.flatten(1);
    }
}
