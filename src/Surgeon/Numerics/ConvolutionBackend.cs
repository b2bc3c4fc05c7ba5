using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace Surgeon.Numerics;

/// <summary>
/// Turns off libtorch's oneDNN (mkldnn) convolutions, process-wide. With libtorch-cpu 2.10.0 on our machines (AMD EPYC,
/// AVX-512) the oneDNN convolution returns wrong input gradients for layers with few channels — garbage of order 1,
/// sometimes NaN, differing from run to run; seen with 3, 4 and 8 channels, not with 16 or 64 — while its outputs and
/// weight gradients are right. ResNet-20 at width 0.25 diverged in its first step, and pruned layers get that narrow.
/// With oneDNN off libtorch uses its own im2col + GEMM kernels, whose gradients match a float64 reference.
/// TorchSharp 0.107 has no binding for torch.backends.mkldnn.enabled, so we call at::Context::setUserEnabledMkldnn on
/// the global context through its exported C++ symbols. The conv models call this when they are built.
/// </summary>
internal static class ConvolutionBackend
{
    private static readonly Lazy<bool> Disabled = new(DisableOnce, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>True when oneDNN convolutions are off (false if this libtorch does not export the setter).</summary>
    public static bool DisableOneDnn() => Disabled.Value;

    /// <summary>
    /// Runs <paramref name="action"/> with oneDNN convolutions on, then turns them off again. Used only to time
    /// inference on the backend a deployment would use: evaluation, calibration and BatchNorm recalibration stay on the
    /// training path, since switching oneDNN on after training with it off gave wrong logits once (see Evaluator). The switch is process-wide, so nothing may
    /// compute convolution gradients on another thread meanwhile. Runs the action as it is when the switch is missing.
    /// </summary>
    public static void RunWithOneDnn(Action action)
    {
        if (!DisableOneDnn())
        {
            action();
            return;
        }
        SetUserEnabledMkldnn(GlobalContext(), true);
        try
        {
            action();
        }
        finally
        {
            SetUserEnabledMkldnn(GlobalContext(), false);
        }
    }

    private static bool DisableOnce()
    {
        using (zeros(1)) { } // make sure TorchSharp has loaded libtorch
        try
        {
            SetUserEnabledMkldnn(GlobalContext(), false);
            // Next in line is NNPACK, which our CPUs lack: libtorch would print "Could not initialize NNPACK!".
            SetUserEnabledNnpack(GlobalContext(), false);
            return true;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at13globalContextEv")]
    private static extern IntPtr GlobalContext();

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledMkldnnEb")]
    private static extern void SetUserEnabledMkldnn(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);

    [DllImport("libtorch_cpu", EntryPoint = "_ZN2at7Context20setUserEnabledNNPACKEb")]
    private static extern void SetUserEnabledNnpack(IntPtr context, [MarshalAs(UnmanagedType.U1)] bool enabled);
}
