namespace Surgeon.Models;

/// <summary>What it takes to rebuild a model: architecture name, input shape (C×H×W), classes, width multiplier.</summary>
public sealed record ModelSpec(string Architecture, int[] InputShape, int NumClasses, double Width = 1.0)
{
    public string InputShapeText => string.Join('x', InputShape);
}
