using static TorchSharp.torch;

namespace Surgeon.Scoring;

/// <summary>Puts a model into eval mode and restores its previous mode on dispose.</summary>
internal readonly struct EvalMode : IDisposable
{
    private readonly nn.Module model;
    private readonly bool wasTraining;

    public EvalMode(nn.Module model)
    {
        this.model = model;
        wasTraining = model.training;
        model.eval();
    }

    public void Dispose() => model.train(wasTraining);
}
