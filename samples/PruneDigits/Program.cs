// Prunes MLPNet on the digits embedded in the Surgeon package with CBS (Yu et al., "The Combinatorial Brain Surgeon"),
// evaluates it and exports ONNX, through the packed library's facade only. Run: scripts/pack-and-run-sample.sh.
using Surgeon.Api;

double sparsity = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 0.9;
string onnxPath = args.Length > 1 ? args[1] : "mlpnet-cbs.onnx";

using var session = CompressionSession.Train("mlpnet", data: "digits", epochs: 2, seed: 0);
var summary = session.Prune("cbs", sparsity);
var pruned = session.Evaluate();
string details = session.ExportOnnx(onnxPath);

Console.WriteLine($"MLPNet on {pruned.Samples:N0} held-out digits: dense accuracy {summary.AccuracyBefore:P2}; " +
    $"CBS at {session.Sparsity:P1} sparsity {pruned.Accuracy:P2}; wrote {onnxPath} ({new FileInfo(onnxPath).Length:N0} bytes: {details})");
