// Prunes MLPNet on the digits embedded in the Surgeon package with CBS (Yu et al., "The Combinatorial Brain Surgeon"),
// evaluates it and exports ONNX, through the packed library only. Run: scripts/pack-and-run-sample.sh.
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Export.Onnx;
using Surgeon.Models;
using Surgeon.Pruning;
using Surgeon.Training;

double sparsity = args.Length > 0 ? double.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 0.9;
string onnxPath = args.Length > 1 ? args[1] : "mlpnet-cbs.onnx";

var (train, test) = DatasetCatalog.LoadEmbeddedDigits();
var spec = new ModelSpec("mlpnet", train.SampleShape, test.NumClasses);
using var model = ModelRegistry.Create(spec);
using (var loop = new TrainingLoop(new TrainOptions { Epochs = 2, Seed = 0 }, model, train))
    loop.Run();
var dense = Evaluator.Evaluate(model, test);

var context = new PruningContext { Model = model, Parameters = PrunableParameters.Discover(model), TrainData = train, Seed = 0 };
using var result = PruningMethods.Get("cbs").Prune(context, sparsity);
var pruned = Evaluator.Evaluate(result.Model, test);
var written = OnnxExport.Write(result.Model, spec, onnxPath);

Console.WriteLine($"MLPNet on {test.Count:N0} held-out digits: dense accuracy {dense.Accuracy:P2}; " +
    $"CBS at {result.Sparsity:P1} sparsity {pruned.Accuracy:P2}; wrote {written.Path} ({written.Bytes:N0} bytes)");
