using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Surgeon.Export;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Training;
using TorchSharp;

namespace Surgeon.Tests.Cli;

/// <summary>
/// Every command against every kind of bad input it can get, run as a child process (so a native abort would show as
/// a crash): each must exit with 2, print one line "error: ..." naming the problem (no stack trace, no exception type)
/// and leave nothing behind: the case's folder holds exactly what the setup put there.
/// </summary>
[Collection(CliCheckpointCollection.Name)]
public class BadInputTests(CliCheckpointFixture fixture)
{
    // Placeholders in the arguments: {work} the case's folder (outputs go to {work}/out, which must not exist afterwards),
    // {ckpt} the good checkpoint, {data} a small 28×28 IDX folder, {small} a 6×6 one, {csv}/{png} the checkpoint's dynamics.
    public static TheoryData<string, string, string[]> Cases => new()
    {
        // eval: checkpoints that are missing, of another format, truncated, bit-flipped, of another shape, NaN/Inf.
        { "", "checkpoint not found", ["eval", "-c", "{work}/missing.ckpt"] },
        { "", "is a folder, not a checkpoint", ["eval", "-c", "{work}"] },
        { "png-no-sidecar", "has no sidecar", ["eval", "-c", "{work}/bad.ckpt"] },
        { "png-rehashed", "not a valid TorchSharp weights file", ["eval", "-c", "{work}/bad.ckpt"] },
        { "text-rehashed", "not a valid TorchSharp weights file", ["eval", "-c", "{work}/bad.ckpt"] },
        { "truncated", "SHA-256 does not match", ["eval", "-c", "{work}/bad.ckpt"] },
        { "truncated-rehashed", "the file is truncated", ["eval", "-c", "{work}/bad.ckpt"] },
        { "bitflip", "SHA-256 does not match", ["eval", "-c", "{work}/bad.ckpt"] },
        { "sidecar-garbage", "is not a valid checkpoint sidecar", ["eval", "-c", "{work}/bad.ckpt"] },
        { "sidecar-format", "unknown checkpoint format", ["eval", "-c", "{work}/bad.ckpt"] },
        { "", "is the sidecar of a checkpoint", ["eval", "-c", "{ckpt}.json"] },
        { "sidecar-width", "needs 80×784", ["eval", "-c", "{work}/bad.ckpt"] },
        { "sidecar-classes", "needs 5×20", ["eval", "-c", "{work}/bad.ckpt"] },
        { "sidecar-vgg13", "holds the weights of another model than the vgg13", ["eval", "-c", "{work}/bad.ckpt"] },
        { "sidecar-arch", "unknown model 'mlp9000'", ["eval", "-c", "{work}/bad.ckpt"] },
        { "nan", "SHA-256 does not match", ["eval", "-c", "{work}/bad.ckpt"] },
        { "nan-rehashed", "contains NaN or infinite values", ["eval", "-c", "{work}/bad.ckpt"] },
        { "inf-rehashed", "contains NaN or infinite values", ["eval", "-c", "{work}/bad.ckpt"] },
        // eval: data folders that are truncated, have a bad magic number, are empty, missing, a file, or of another shape.
        { "data-truncated", "truncated IDX file", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "data-magic", "bad magic number", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "data-no-files", "no training images file", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "data-zero", "the dataset is empty", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "", "data folder not found", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "", "is a file; give the folder", ["eval", "-c", "{ckpt}", "--data", "{png}"] },
        { "", "unknown dataset 'imagenet'", ["eval", "-c", "{ckpt}", "--data", "imagenet"] },
        { "", "expects 1×28×28 inputs", ["eval", "-c", "{ckpt}", "--data", "{small}"] },
        { "", "unknown device 'tpu'", ["eval", "-c", "{ckpt}", "--device", "tpu"] },

        // prune: sparsity out of range or rounding to zero weights, unknown method, more Fisher samples than data, bad outputs.
        { "", "sparsity must be in [0, 1)", ["prune", "-c", "{ckpt}", "-s", "1", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "sparsity must be in [0, 1)", ["prune", "-c", "{ckpt}", "-s", "-0.1", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "sparsity must be in [0, 1)", ["prune", "-c", "{ckpt}", "-s", "NaN", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "rounds to zero weights", ["prune", "-c", "{ckpt}", "-s", "1e-9", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "rounds to zero weights", ["prune", "-c", "{ckpt}", "-m", "lmp", "-s", "1e-9", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "Cannot parse argument 'half'", ["prune", "-c", "{ckpt}", "-s", "half", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "unknown pruning method 'magic'", ["prune", "-c", "{ckpt}", "-m", "magic", "-s", "0.5", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "unknown --schedule 'sideways'", ["prune", "-c", "{ckpt}", "-s", "0.5", "--schedule", "sideways", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "--epochs applies to --schedule gradual only", ["prune", "-c", "{ckpt}", "-s", "0.5", "--epochs", "3", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "--recalibrate-bn applies to one-shot pruning only", ["prune", "-c", "{ckpt}", "-s", "0.5", "--schedule", "gradual", "--recalibrate-bn", "8", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "the schedule needs at least one step", ["prune", "-c", "{ckpt}", "-s", "0.5", "--schedule", "gradual", "--prune-steps", "0", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "unknown prunable set 'some'", ["prune", "-c", "{ckpt}", "-s", "0.5", "--prunable", "some", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "has only 8000", ["prune", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--fisher-samples", "9000", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "has only 200", ["prune", "-c", "{ckpt}", "-m", "cbs", "-s", "0.5", "--fisher-samples", "300", "--data", "{data}", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "--lambda must be positive", ["prune", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--lambda", "0", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "'fast' is not a CBS-S start scoring: use halving", ["prune", "-c", "{ckpt}", "-m", "cbs", "-s", "0.5", "--cbs-start-scoring", "fast", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "--fisher-samples must be ≥ 1", ["prune", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--fisher-samples", "0", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "it is a folder; give a file name", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}", "-q"] },
        { "file", "is a file, not a folder", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/file.txt/p.ckpt", "-q"] },
        { "", "does not accept new files", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "/proc/surgeon-p.ckpt", "-q"] },
        { "truncated-rehashed", "the file is truncated", ["prune", "-c", "{work}/bad.ckpt", "-s", "0.5", "-o", "{work}/out/p.ckpt", "-q"] },
        { "sidecar-width", "needs 80×784", ["prune", "-c", "{work}/bad.ckpt", "-s", "0.5", "-o", "{work}/out/p.ckpt", "-q"] },
        { "nan-rehashed", "contains NaN or infinite values", ["prune", "-c", "{work}/bad.ckpt", "-s", "0.5", "-o", "{work}/out/p.ckpt", "-q"] },
        { "data-magic", "bad magic number", ["prune", "-c", "{ckpt}", "-s", "0.5", "--data", "{work}/data", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "expects 1×28×28 inputs", ["prune", "-c", "{ckpt}", "-s", "0.5", "--data", "{small}", "-o", "{work}/out/p.ckpt", "-q"] },

        // finetune: the same checkpoint problems, contradictory or out-of-range schedule options, divergence.
        { "", "checkpoint not found", ["finetune", "-c", "{work}/missing.ckpt", "-o", "{work}/out/f.ckpt", "-q"] },
        { "nan-rehashed", "contains NaN or infinite values", ["finetune", "-c", "{work}/bad.ckpt", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "needs both --method and --sparsity", ["finetune", "-c", "{ckpt}", "-m", "wf", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "sparsity must be in [0, 1)", ["finetune", "-c", "{ckpt}", "-m", "mp", "-s", "1.5", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "unknown prunable set 'some'", ["finetune", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "--prunable", "some", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "unknown pruning method 'magic'", ["finetune", "-c", "{ckpt}", "-m", "magic", "-s", "0.5", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "the schedule needs at least one step", ["finetune", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "--prune-steps", "0", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "has only 200", ["finetune", "-c", "{ckpt}", "--data", "{data}", "--epochs", "1", "-m", "wf", "-s", "0.5", "--fisher-samples", "300", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "training diverged", ["finetune", "-c", "{ckpt}", "--data", "{data}", "--epochs", "1", "--lr", "1e6", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "it is a folder; give a file name", ["finetune", "-c", "{ckpt}", "--epochs", "1", "-o", "{work}", "-q"] },

        // sweep: the same, and errors that used to surface only after some points were written.
        { "", "sparsity must be in [0, 1)", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5,1.5", "-o", "{work}/out", "-q"] },
        { "", "rounds to zero weights", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5,1e-9", "-o", "{work}/out", "-q"] },
        { "", "--sparsities lists a value twice", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5,0.5", "-o", "{work}/out", "-q"] },
        { "", "--test-subset must be 0 (all) or a positive count", ["sweep", "-c", "{ckpt}", "-m", "mp", "--test-subset", "-3", "-o", "{work}/out", "-q"] },
        { "", "--train-subset must be 0 (all) or a positive count", ["finetune", "-c", "{ckpt}", "--train-subset", "-3", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "unknown prunable set 'some'", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "--prunable", "some", "-o", "{work}/out", "-q"] },
        { "", "has only 8000", ["sweep", "-c", "{ckpt}", "-m", "mp,wf", "-s", "0.5", "--fisher-samples", "9000", "-o", "{work}/out", "-q"] },
        { "", "unknown pruning method 'magic'", ["sweep", "-c", "{ckpt}", "-m", "mp,magic", "-s", "0.5", "-o", "{work}/out", "-q"] },
        { "", "method 'mp' is listed twice", ["sweep", "-c", "{ckpt}", "-m", "mp,mp", "-s", "0.5", "-o", "{work}/out", "-q"] },
        { "", "--seeds: 'x' is not a whole number", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "--seeds", "0,x", "-o", "{work}/out", "-q"] },
        { "file", "it is a file; give a folder", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/file.txt", "-q"] },
        { "bitflip", "SHA-256 does not match", ["sweep", "-c", "{work}/bad.ckpt", "-m", "mp", "-s", "0.5", "-o", "{work}/out", "-q"] },
        { "sidecar-vgg13", "holds the weights of another model", ["sweep", "-c", "{work}/bad.ckpt", "-m", "mp", "-s", "0.5", "-o", "{work}/out", "-q"] },
        { "inf-rehashed", "contains NaN or infinite values", ["sweep", "-c", "{work}/bad.ckpt", "-m", "mp", "-s", "0.5", "-o", "{work}/out", "-q"] },
        { "data-truncated", "truncated IDX file", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "--data", "{work}/data", "-o", "{work}/out", "-q"] },

        // train: unknown names, contradictory options, impossible sizes, bad data, divergence.
        { "", "unknown model 'magic'", ["train", "--model", "magic", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "unknown pruning method 'magic'", ["train", "--prune-measure", "magic", "--prune-target", "0.5", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "needs both a measure (--prune-measure) and a target", ["train", "--prune-target", "0.5", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--prune-rounds only applies when pruning while training", ["train", "--prune-rounds", "2", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--prune-structure weights", ["train", "--prune-measure", "magnitude", "--prune-target", "0.5", "--prune-structure", "filters", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--prune-target must be in [0, 1)", ["train", "--prune-measure", "magnitude", "--prune-target", "1.5", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "removes no weights", ["train", "--data", "{data}", "--epochs", "1", "--prune-measure", "magnitude", "--prune-target", "1e-9", "--score-samples", "50", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "raise --epochs", ["train", "--epochs", "2", "--prune-measure", "magnitude", "--prune-target", "0.5", "--prune-start", "3", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--score-samples must be in 1..200", ["train", "--data", "{data}", "--epochs", "1", "--prune-measure", "magnitude", "--prune-target", "0.5", "--score-samples", "300", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "has 8000", ["train", "--train-subset", "9000", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "width multiplier must be positive", ["train", "--width", "0", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--epochs must be ≥ 0", ["train", "--epochs", "-1", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--batch-size must be ≥ 1", ["train", "--batch-size", "0", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "Did you mean one of the following? Constant, Cosine, Step", ["train", "--schedule", "fast", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "training diverged", ["train", "--data", "{data}", "--epochs", "1", "--lr", "1e6", "-o", "{work}/out/t.ckpt", "-q"] },
        { "data-zero", "the dataset is empty", ["train", "--data", "{work}/data", "-o", "{work}/out/t.ckpt", "-q"] },
        { "data-magic", "bad magic number", ["train", "--data", "{work}/data", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "it is a folder; give a file name", ["train", "--data", "{data}", "--epochs", "1", "-o", "{work}", "-q"] },

        // demo, data, plot-dynamics.
        { "", "unknown pruning method 'magic'", ["demo", "-m", "magic", "-o", "{work}/out", "-q"] },
        { "", "--epochs must be ≥ 0", ["demo", "--epochs", "-1", "-o", "{work}/out", "-q"] },
        { "file", "it is a file; give a folder", ["demo", "--epochs", "1", "-o", "{work}/file.txt", "-q"] },
        { "data-magic", "bad magic number", ["data", "info", "--data", "{work}/data"] },
        { "cifar-truncated", "not a whole number of 3073-byte CIFAR-10 records", ["data", "info", "--data", "cifar10:{work}/cifar"] },
        { "", "0.json not found", ["data", "import-digits", "--from", "{work}/npm", "-o", "{work}/out"] },
        { "npm-garbage", "0.json is not valid JSON", ["data", "import-digits", "--from", "{work}/npm", "-o", "{work}/out"] },
        { "", "dynamics file not found", ["plot-dynamics", "-o", "{work}/out/d.png", "a={work}/missing.csv"] },
        { "", "is not a dynamics CSV written by surgeon", ["plot-dynamics", "-o", "{work}/out/d.png", "a={png}"] },
        { "", "is not a dynamics CSV written by surgeon", ["plot-dynamics", "-o", "{work}/out/d.png", "a={ckpt}.json"] },
        { "csv-cut", "expected 14 cells, found", ["plot-dynamics", "-o", "{work}/out/d.png", "a={work}/bad.csv"] },
        { "csv-header-only", "has a header but no records", ["plot-dynamics", "-o", "{work}/out/d.png", "a={work}/bad.csv"] },
        { "csv-garbage-cell", "bad.csv:3:", ["plot-dynamics", "-o", "{work}/out/d.png", "a={work}/bad.csv"] },
        { "", "unknown dynamics quantity 'speed'", ["plot-dynamics", "-q", "speed", "-o", "{work}/out/d.png", "a={csv}"] },
        { "", "is not LABEL=PATH", ["plot-dynamics", "-o", "{work}/out/d.png", "{csv}"] },
        { "", "give a file name ending in .png", ["plot-dynamics", "-o", "{work}/out/d.txt", "a={csv}"] },
        // export: missing, folder or corrupt checkpoint, unknown or missing format, unwritable output.
        { "", "checkpoint not found", ["export", "-f", "onnx", "-c", "{work}/missing.ckpt", "-o", "{work}/out/m.onnx"] },
        { "", "is a folder, not a checkpoint", ["export", "-f", "onnx", "-c", "{work}", "-o", "{work}/out/m.onnx"] },
        { "bitflip", "SHA-256 does not match", ["export", "-f", "onnx", "-c", "{work}/bad.ckpt", "-o", "{work}/out/m.onnx"] },
        { "", "unknown export format 'tflite': known formats are onnx, sparse, safetensors", ["export", "-f", "tflite", "-c", "{ckpt}", "-o", "{work}/out/m.onnx"] },
        // The format is checked before the checkpoint, so a wrong format is named even when the checkpoint is missing too.
        { "", "unknown export format 'npz'", ["export", "-f", "npz", "-c", "{work}/missing.ckpt", "-o", "{work}/out/m.onnx"] },
        { "", "Option '--format' is required", ["export", "-c", "{ckpt}", "-o", "{work}/out/m.onnx"] },
        { "", "it is a folder; give a file name", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{work}"] },
        { "file", "is a file, not a folder", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{work}/file.txt/m.onnx"] },
        { "", "does not accept new files", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "/proc/surgeon-m.onnx"] },
        // bench-model: missing, corrupt or incomparable checkpoints (checked on the sidecars first), bad timing settings.
        { "", "checkpoint not found", ["bench-model", "--dense", "{work}/missing.ckpt", "--pruned", "{ckpt}", "-o", "{work}/out", "-q"] },
        { "", "checkpoint not found", ["bench-model", "--dense", "{ckpt}", "--pruned", "{work}/missing.ckpt", "-o", "{work}/out", "-q"] },
        { "bitflip", "SHA-256 does not match", ["bench-model", "--dense", "{ckpt}", "--pruned", "{work}/bad.ckpt", "-o", "{work}/out", "-q"] },
        { "sidecar-vgg13", "holds a mlpnet but", ["bench-model", "--dense", "{ckpt}", "--pruned", "{work}/bad.ckpt", "-o", "{work}/out", "-q"] },
        { "sidecar-classes", "predicts 10 classes but", ["bench-model", "--dense", "{ckpt}", "--pruned", "{work}/bad.ckpt", "-o", "{work}/out", "-q"] },
        { "", "Option '--pruned' is required", ["bench-model", "--dense", "{ckpt}", "-o", "{work}/out"] },
        { "", "--batch-sizes: 0 is not a batch size in 1..4096", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "-b", "1,0", "-o", "{work}/out", "-q"] },
        { "", "--batch-sizes: 'x' is not a whole number", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "-b", "1,x", "-o", "{work}/out", "-q"] },
        { "", "--batch-sizes lists a value twice", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "-b", "64,64", "-o", "{work}/out", "-q"] },
        { "", "--runs must be ≥ 1", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "--runs", "0", "-o", "{work}/out", "-q"] },
        { "", "--warmup must be ≥ 0", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "--warmup", "-1", "-o", "{work}/out", "-q"] },
        { "", "--threads must be ≥ 1", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "--threads", "0", "-o", "{work}/out", "-q"] },
        { "", "unknown runtime 'tensorrt'", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "--runtimes", "onnx,tensorrt", "-o", "{work}/out", "-q"] },
        { "file", "it is a file; give a folder", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "-o", "{work}/file.txt", "-q"] },
        // report layers / sweep: missing or corrupt inputs, sweeps that cannot share one table, bad options.
        { "", "checkpoint not found", ["report", "layers", "-c", "{work}/missing.ckpt", "-o", "{work}/out"] },
        { "nan-rehashed", "contains NaN or infinite values", ["report", "layers", "-c", "{work}/bad.ckpt", "-o", "{work}/out"] },
        { "", "unknown --format 'html'", ["report", "layers", "-c", "{ckpt}", "--format", "html", "-o", "{work}/out"] },
        { "file", "it is a file; give a folder", ["report", "layers", "-c", "{ckpt}", "-o", "{work}/file.txt"] },
        { "", "Required command was not provided", ["report"] },
        { "", "sweep results not found", ["report", "sweep", "{work}/missing", "-o", "{work}/out"] },
        { "sweep-empty", "holds neither sweep.json nor points.jsonl", ["report", "sweep", "{work}/sweep", "-o", "{work}/out"] },
        { "sweep-garbage", "is not a sweep.json written by 'surgeon sweep'", ["report", "sweep", "{work}/sweep", "-o", "{work}/out"] },
        { "", "is neither a sweep.json nor a points.jsonl", ["report", "sweep", "{csv}", "-o", "{work}/out"] },
        { "sweep-journal", "both hold mp at sparsity 0.5 (seed 0)", ["report", "sweep", "{work}/s.jsonl", "{work}/s.jsonl", "-o", "{work}/out"] },
        { "sweep-two-dense", "dense accuracy of 95.00 % but", ["report", "sweep", "{work}/a", "{work}/b", "-o", "{work}/out"] },
        { "sweep-two-dense", "it is the sweep results", ["report", "sweep", "{work}/a", "{work}/b", "-o", "{work}/a"] },
        { "sweep-journal-in-folder", "one of the merged sweeps", ["report", "sweep", "{work}/j", "{work}/s.jsonl", "-o", "{work}/j"] },
        { "sweep-journal", "--dense-accuracy must be a fraction in [0, 1]", ["report", "sweep", "{work}/s.jsonl", "--dense-accuracy", "97", "-o", "{work}/out"] },
        { "", "is not LABEL=PATH", ["report", "sweep", "mp=", "-o", "{work}/out"] },
        { "file", "it is a file; give a folder", ["report", "sweep", "{csv}", "-o", "{work}/file.txt"] },
        { "bitflip", "SHA-256 does not match", ["export", "-f", "sparse", "-c", "{work}/bad.ckpt", "-o", "{work}/out/m.sparse"] },
        { "truncated-rehashed", "the file is truncated", ["export", "-f", "safetensors", "-c", "{work}/bad.ckpt", "-o", "{work}/out/m.safetensors"] },
        { "", "does not accept new files", ["export", "-f", "sparse", "-c", "{ckpt}", "-o", "/proc/surgeon-m.sparse"] },
        { "", "it is a folder; give a file name", ["export", "-f", "safetensors", "-c", "{ckpt}", "-o", "{work}"] },

        // import: truncated, bit-flipped, missing or other-format files, contradictory options, unwritable outputs.
        { "sparse-truncated", "is corrupt or truncated: its SHA-256 checksum does not match", ["import", "-f", "sparse", "-i", "{work}/bad.sparse", "-o", "{work}/out/m.ckpt"] },
        { "sparse-cut-short", "is truncated: 12 bytes", ["import", "-f", "sparse", "-i", "{work}/bad.sparse", "-o", "{work}/out/m.ckpt"] },
        { "sparse-bitflip", "is corrupt or truncated: its SHA-256 checksum does not match", ["import", "-f", "sparse", "-i", "{work}/bad.sparse", "-o", "{work}/out/m.ckpt"] },
        { "sparse-empty", "is empty", ["import", "-f", "sparse", "-i", "{work}/bad.sparse", "-o", "{work}/out/m.ckpt"] },
        { "", "is not a Surgeon sparse file", ["import", "-f", "sparse", "-i", "{ckpt}", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "is not a Surgeon sparse file", ["import", "-f", "sparse", "-i", "{work}/m.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "", "sparse file not found", ["import", "-f", "sparse", "-i", "{work}/missing.sparse", "-o", "{work}/out/m.ckpt"] },
        { "", "is a folder; give a sparse file", ["import", "-f", "sparse", "-i", "{work}", "-o", "{work}/out/m.ckpt"] },
        { "sparse", "--model does not apply to --format sparse", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "--model", "mlpnet", "-o", "{work}/out/m.ckpt"] },
        { "sparse", "--allow-missing does not apply to --format sparse", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "--allow-missing", "-o", "{work}/out/m.ckpt"] },
        { "sparse", "it is a folder; give a file name", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", "{work}"] },
        { "sparse", "does not accept new files", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", "/proc/surgeon-i.ckpt"] },
        { "safetensors-truncated", "the file is truncated", ["import", "-f", "safetensors", "-i", "{work}/bad.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "safetensors-cut-short", "too short for the 8-byte header length", ["import", "-f", "safetensors", "-i", "{work}/bad.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "safetensors-bitflip", "is corrupt: its contents do not match the checksum in its metadata", ["import", "-f", "safetensors", "-i", "{work}/bad.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "safetensors-header-garbage", "its header is not valid JSON", ["import", "-f", "safetensors", "-i", "{work}/bad.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "safetensors-bad-dtype", "tensor 'fc1.weight' has unknown dtype 'F33'", ["import", "-f", "safetensors", "-i", "{work}/bad.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "sparse", "is not a valid safetensors file: its header length", ["import", "-f", "safetensors", "-i", "{work}/m.sparse", "-o", "{work}/out/m.ckpt"] },
        { "", "is not a valid safetensors file", ["import", "-f", "safetensors", "-i", "{ckpt}", "-o", "{work}/out/m.ckpt"] },
        { "", "is not a valid safetensors file", ["import", "-f", "safetensors", "-i", "{png}", "-o", "{work}/out/m.ckpt"] },
        { "", "safetensors file not found", ["import", "-f", "safetensors", "-i", "{work}/missing.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "safetensors-foreign", "has no surgeon model description in its metadata", ["import", "-f", "safetensors", "-i", "{work}/bad.safetensors", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "3 mis-shaped (fc1.weight (file F32 40×784, model F32 80×784)", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "--model", "mlpnet", "--width", "2", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "unknown model 'magic'", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "--model", "magic", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "--width describes the model together with --model", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "--width", "2", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "mlpnet has no filter groups", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "--model", "mlpnet", "--channels", "4,4", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "--channels: 'x' is not a channel count", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "--model", "vgg13", "--channels", "4,x", "-o", "{work}/out/m.ckpt"] },
        { "safetensors", "fc1.weight (file F32 40×784, model F32 40×36)", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "--model", "mlpnet", "--data", "{small}", "-o", "{work}/out/m.ckpt"] },
        { "", "unknown import format 'onnx': known formats are sparse, safetensors, pytorch", ["import", "-f", "onnx", "-i", "{work}/m.onnx", "-o", "{work}/out/m.ckpt"] },
        { "", "Option '--in' is required", ["import", "-f", "sparse", "-o", "{work}/out/m.ckpt"] },

        // Numbers (issue 16): updates that overflow float32, sparsities that prune nothing, a λ float32 cannot resolve,
        // NaN options, impossible journal and report values, IDX headers whose sizes overflow or exceed the file.
        { "", "gave a model whose outputs overflow float32 (test loss NaN); --update-scale 1E+30 is too large", ["prune", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--update-scale", "1e30", "--fisher-samples", "100", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "made weights of fc1.weight NaN or infinite: its update overflowed float32; --update-scale 1E+60 is too large", ["prune", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--update-scale", "1e60", "--fisher-samples", "100", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "made weights of fc1.weight NaN or infinite: its update overflowed float32; --update-scale 1E+60 is too large", ["sweep", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--update-scale", "1e60", "--fisher-samples", "100", "-o", "{work}/out", "-q"] },
        { "", "sparsity -0 of 32360 weights rounds to zero weights to prune", ["prune", "-c", "{ckpt}", "-s", "-0", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "sparsity 5E-324 of 32360 weights rounds to zero weights to prune", ["prune", "-c", "{ckpt}", "-s", "4.9e-324", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "sparsity 0 of 32360 weights rounds to zero weights to prune", ["prune", "-c", "{ckpt}", "-m", "lmp", "-s", "0", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "sparsity -0 of 32360 weights rounds to zero weights to prune", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5,-0", "-o", "{work}/out", "-q"] },
        { "", "sparsity 5E-324 of 32360 weights rounds to zero weights to prune", ["finetune", "-c", "{ckpt}", "-m", "mp", "-s", "4.9e-324", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "--prune-target -0 removes no weights", ["train", "--data", "{data}", "--epochs", "1", "--prune-measure", "magnitude", "--prune-target", "-0", "--score-samples", "50", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "--lambda 1E-12 is below what float32 resolves in the Fisher block", ["prune", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--lambda", "1e-12", "--fisher-samples", "100", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "--lambda 1E-12 is below what float32 resolves in the Fisher kept-set system of CBS-U", ["prune", "-c", "{ckpt}", "-m", "mp+cbs-u", "-s", "0.5", "--lambda", "1e-12", "--fisher-samples", "100", "-o", "{work}/out/p.ckpt", "-q"] },
        { "", "--lambda 1E-12 is below what float32 resolves", ["sweep", "-c", "{ckpt}", "-m", "wf", "-s", "0.5", "--lambda", "1e-12", "--fisher-samples", "100", "-o", "{work}/out", "-q"] },
        { "", "--momentum must be in [0, 1), got NaN", ["finetune", "-c", "{ckpt}", "--momentum", "NaN", "-o", "{work}/out/f.ckpt", "-q"] },
        { "", "--weight-decay must be a finite number ≥ 0", ["finetune", "-c", "{ckpt}", "--weight-decay", "Infinity", "-o", "{work}/out/f.ckpt", "-q"] },
        { "journal-garbage-line", "s.jsonl:3: not a journal line", ["report", "sweep", "{work}/s.jsonl", "-o", "{work}/out"] },
        { "journal-accuracy", "s.jsonl:2: an impossible point, mp at sparsity 0.5 (seed 0): its accuracy is 1.5, not a fraction in [0, 1]", ["report", "sweep", "{work}/s.jsonl", "-o", "{work}/out"] },
        { "journal-accuracy", "s.jsonl:2: an impossible point", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}", "-q"] },
        { "sweep-accuracy", "point 1 of 1 is impossible, mp at sparsity 0.5 (seed 0): its accuracy is 1.5", ["report", "sweep", "{work}/sweep", "-o", "{work}/out"] },
        { "data-overflow", "IDX header dimensions 2147483647×2147483647×2147483647 multiply to more bytes than any file holds", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "data-huge-header", "truncated IDX file: header promises 1683627179248 bytes of data, file has", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "data-huge-header-gz", "header promises 1683627179248 bytes of data, more than its", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "sidecar-huge-width", "needs 80000×784", ["eval", "-c", "{work}/bad.ckpt"] },
        { "", "has tensors too large to exist", ["train", "--model", "mobilenet-v1", "--width", "1e300", "--epochs", "0", "-o", "{work}/out/t.ckpt", "-q"] },
        { "", "for its weights, more than this machine's", ["train", "--model", "vgg13", "--width", "1e4", "--epochs", "0", "-o", "{work}/out/t.ckpt", "-q"] },
        // Outputs (issue 16): empty, a FIFO, a socket or a symbolic link where a file is wanted (devices: DeviceCases).
        { "", "--out is empty; give a file name", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "", "-q"] },
        { "fifo", "it is a FIFO (named pipe), not a regular file", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/fifo", "-q"] },
        { "socket", "it is a socket, not a regular file", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/sock", "-q"] },
        { "symlink", "it is a symbolic link", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/link", "-q"] },
        { "", "--out is empty; give a file name", ["finetune", "-c", "{ckpt}", "-o", "", "-q"] },
        { "fifo", "it is a FIFO (named pipe), not a regular file", ["finetune", "-c", "{ckpt}", "--epochs", "1", "-o", "{work}/fifo", "-q"] },
        { "", "--out is empty; give a file name", ["train", "-o", "", "-q"] },
        { "fifo", "it is a FIFO (named pipe), not a regular file", ["train", "--data", "{data}", "--epochs", "1", "-o", "{work}/fifo", "-q"] },
        { "symlink", "it is a symbolic link", ["train", "--data", "{data}", "--epochs", "1", "-o", "{work}/link", "-q"] },
        { "", "--out is empty; give a file name", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", ""] },
        { "fifo", "it is a FIFO (named pipe), not a regular file", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{work}/fifo"] },
        { "socket", "it is a socket, not a regular file", ["export", "-f", "sparse", "-c", "{ckpt}", "-o", "{work}/sock"] },
        { "symlink", "it is a symbolic link", ["export", "-f", "safetensors", "-c", "{ckpt}", "-o", "{work}/link"] },
        { "sparse", "--out is empty; give a file name", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", ""] },
        { "sparse+fifo", "it is a FIFO (named pipe), not a regular file", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", "{work}/fifo"] },
        { "", "give a file name ending in .png", ["plot-dynamics", "-o", "", "a={csv}"] },
        { "fifo", "it is a FIFO (named pipe), not a regular file", ["plot-dynamics", "-o", "{work}/fifo.png", "a={csv}"] },
        { "symlink", "it is a symbolic link", ["plot-dynamics", "-o", "{work}/link.png", "a={csv}"] },
        // A file a command writes beside its output (the sidecar, train's dynamics) that is a folder: refused before any
        // work, where the weights used to be left behind without their sidecar.
        { "sidecar-folder", "o.ckpt.json (the sidecar of --out", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/o.ckpt", "-q"] },
        { "sidecar-folder", "o.ckpt.json (the sidecar of --out", ["prune", "-c", "{ckpt}", "-s", "0.5", "--schedule", "gradual", "--epochs", "1", "-o", "{work}/o.ckpt", "-q"] },
        { "sidecar-folder", "o.ckpt.json (the sidecar of --out", ["finetune", "-c", "{ckpt}", "--epochs", "1", "-o", "{work}/o.ckpt", "-q"] },
        { "sidecar-folder", "o.ckpt.json (the sidecar of --out", ["train", "--data", "{data}", "--epochs", "1", "-o", "{work}/o.ckpt", "-q"] },
        { "dynamics-folder", "o.ckpt.dynamics.csv (the dynamics of --out", ["train", "--data", "{data}", "--epochs", "1", "-o", "{work}/o.ckpt", "-q"] },
        { "sparse+sidecar-folder", "o.ckpt.json (the sidecar of --out", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", "{work}/o.ckpt"] },
        // The output is an input of the same command, or an input's sidecar or derived file, by any name.
        { "", "it is the input checkpoint", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{ckpt}", "-q"] },
        { "ckpt-copy", "it is the sidecar of the input checkpoint", ["prune", "-c", "{work}/m.ckpt", "-s", "0.5", "-o", "{work}/m.ckpt.json", "-q"] },
        { "ckpt-copy", "it is the input checkpoint", ["prune", "-c", "{work}/m.ckpt", "-s", "0.5", "-o", "./m.ckpt", "-q"] },
        { "ckpt-copy", "it is the input checkpoint", ["prune", "-c", "m.ckpt", "-s", "0.5", "-o", "{work}/sub/../m.ckpt", "-q"] },
        { "ckpt-copy", "under another name (the same file)", ["prune", "-c", "{work}/m.ckpt", "-s", "0.5", "-o", "{work}/hard.ckpt", "-q"] },
        { "ckpt-copy", "it is the training dynamics of the input checkpoint", ["prune", "-c", "{work}/m.ckpt", "-s", "0.5", "-o", "{work}/m.ckpt.dynamics.csv", "-q"] },
        { "ckpt-named-json", "it is the input checkpoint", ["prune", "-c", "{work}/q.json", "-s", "0.5", "-o", "{work}/q", "-q"] },
        { "ckpt-copy", "it is the sidecar of the input checkpoint", ["prune", "-c", "{work}/m.ckpt", "-s", "0.5", "--schedule", "gradual", "--epochs", "1", "-o", "{work}/m.ckpt.json", "-q"] },
        { "", "it is the input checkpoint", ["finetune", "-c", "{ckpt}", "--epochs", "1", "-o", "{ckpt}", "-q"] },
        { "", "it is the sidecar of the input checkpoint", ["finetune", "-c", "{ckpt}", "--epochs", "1", "-o", "{ckpt}.json", "-q"] },
        { "ckpt-copy", "under another name (the same file)", ["finetune", "-c", "{work}/m.ckpt", "--epochs", "1", "-o", "{work}/hard.ckpt", "-q"] },
        { "data-copy", "train-labels-idx1-ubyte.gz of the --data folder", ["train", "--data", "{work}/data", "--epochs", "1", "-o", "{work}/data/train-labels-idx1-ubyte.gz", "-q"] },
        { "ckpt-copy+data-copy", "t10k-images-idx3-ubyte.gz of the --data folder", ["prune", "-c", "{work}/m.ckpt", "-s", "0.5", "--data", "{work}/data", "-o", "{work}/data/t10k-images-idx3-ubyte.gz", "-q"] },
        { "", "it is the input checkpoint", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{ckpt}"] },
        { "", "it is the sidecar of the input checkpoint", ["export", "-f", "sparse", "-c", "{ckpt}", "-o", "{ckpt}.json"] },
        { "", "it is the dynamics plot of the input checkpoint", ["export", "-f", "safetensors", "-c", "{ckpt}", "-o", "{png}"] },
        { "sparse", "it is the input file", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", "{work}/m.sparse"] },
        { "sparse-as-json", "it is the input file", ["import", "-f", "sparse", "-i", "{work}/m.json", "-o", "{work}/m"] },
        { "safetensors", "it is the input file", ["import", "-f", "safetensors", "-i", "{work}/m.safetensors", "-o", "./m.safetensors"] },
        { "csv-as-png", "it is the dynamics", ["plot-dynamics", "-o", "{work}/d.png", "a={work}/d.png"] },
        // Output folders: empty, not a folder, holding a file the run would write that cannot be written, or holding an input.
        { "", "--out-dir is empty; give a folder", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "", "-q"] },
        { "fifo", "it is a FIFO (named pipe); give a folder", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/fifo", "-q"] },
        { "sweep-out-md-folder", "sweep.md (written into --out-dir", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/sw", "-q"] },
        // An append to a journal that is a link would write into what it points to (here a checkpoint).
        { "ckpt-copy+journal-symlink", "points.jsonl (written into --out-dir", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/sw", "-q"] },
        { "journal-fifo", "points.jsonl (written into --out-dir", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/sw", "-q"] },
        { "lock-fifo", ".surgeon.lock (written into --out-dir", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/sw", "-q"] },
        { "ckpt-in-sweep-folder", "it is the input checkpoint", ["sweep", "-c", "{work}/sw/sweep.json", "-m", "mp", "-s", "0.5", "-o", "{work}/sw", "-q"] },
        { "", "--out-dir is empty; give a folder", ["demo", "-o", "", "-q"] },
        { "fifo", "it is a FIFO (named pipe); give a folder", ["demo", "--epochs", "1", "-o", "{work}/fifo", "-q"] },
        { "demo-sidecar-folder", "mlpnet-digits.ckpt.json (the sidecar of the demo's checkpoint", ["demo", "--epochs", "1", "-o", "{work}/d", "-q"] },
        { "ckpt-as-bench-md", "it is the --dense checkpoint", ["bench-model", "--dense", "{work}/bench-model.md", "--pruned", "{ckpt}", "-o", "{work}", "-q"] },
        { "fifo", "it is a FIFO (named pipe); give a folder", ["bench-model", "--dense", "{ckpt}", "--pruned", "{ckpt}", "-o", "{work}/fifo", "-q"] },
        { "", "--out-dir is empty; give a folder", ["report", "layers", "-c", "{ckpt}", "-o", ""] },
        { "fifo", "it is a FIFO (named pipe); give a folder", ["report", "layers", "-c", "{ckpt}", "-o", "{work}/fifo"] },
        { "layers-md-fifo", "m-layers.md (written into --out-dir", ["report", "layers", "-c", "{ckpt}", "-o", "{work}/rl"] },
        { "sweep-two-dense", "it is the sweep results", ["report", "sweep", "{work}/a", "-o", "{work}/a"] },
        { "sweep-journal", "--out-dir is empty; give a folder", ["report", "sweep", "{work}/s.jsonl", "-o", ""] },
        { "fifo", "it is a FIFO (named pipe); give a folder", ["data", "import-digits", "--from", "{work}/npm", "-o", "{work}/fifo"] },
        { "", "--out is empty; give a folder", ["data", "import-digits", "--from", "{work}/npm", "-o", ""] },
        { "", "--from is empty", ["data", "import-digits", "--from", "", "-o", "{work}/out"] },

        // Inputs that are empty or not regular files are refused before they are opened (a FIFO would block the read).
        { "", "the checkpoint path is empty", ["eval", "-c", ""] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["eval", "-c", "{work}/fifo"] },
        { "socket", "is a socket, not a regular file", ["eval", "-c", "{work}/sock"] },
        { "sidecar-fifo", "s.ckpt.json is a FIFO (named pipe), not a regular file", ["eval", "-c", "{work}/s.ckpt"] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["prune", "-c", "{work}/fifo", "-s", "0.5", "-o", "{work}/out/p.ckpt", "-q"] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["bench-model", "--dense", "{work}/fifo", "--pruned", "{ckpt}", "-o", "{work}/out", "-q"] },
        { "data-fifo", "is a FIFO (named pipe), not a regular file", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "cifar-fifo", "is a FIFO (named pipe), not a regular file", ["data", "info", "--data", "cifar10:{work}/cifar"] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["import", "-f", "sparse", "-i", "{work}/fifo", "-o", "{work}/out/m.ckpt"] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["import", "-f", "safetensors", "-i", "{work}/fifo", "-o", "{work}/out/m.ckpt"] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["plot-dynamics", "-o", "{work}/out/d.png", "a={work}/fifo"] },
        { "fifo", "is a FIFO (named pipe), not a regular file", ["report", "sweep", "{work}/fifo"] },
        { "sweep-json-fifo", "is a FIFO (named pipe), not a regular file", ["report", "sweep", "{work}/sweep"] },
        { "npm-fifo", "is a FIFO (named pipe), not a regular file", ["data", "import-digits", "--from", "{work}/npm", "-o", "{work}/out"] },
    };

    /// <summary>
    /// Device nodes as outputs and inputs: a private node made with mknod in the case's folder (c 1 3, what /dev/null
    /// is), never the real /dev/null, which a regression would replace on the machine. Skipped where mknod is not
    /// permitted (not root, or no CAP_MKNOD in a container).
    /// </summary>
    public static TheoryData<string, string, string[]> DeviceCases => new()
    {
        { "null-device", "it is a character device, not a regular file", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/null", "-q"] },
        { "null-device", "it is a character device, not a regular file", ["prune", "-c", "{ckpt}", "-s", "0.5", "--schedule", "gradual", "--epochs", "1", "-o", "{work}/null", "-q"] },
        { "null-device", "it is a character device, not a regular file", ["finetune", "-c", "{ckpt}", "--epochs", "1", "-o", "{work}/null", "-q"] },
        { "null-device", "it is a character device, not a regular file", ["train", "--data", "{data}", "--epochs", "1", "-o", "{work}/null", "-q"] },
        { "null-device", "it is a character device, not a regular file", ["export", "-f", "onnx", "-c", "{ckpt}", "-o", "{work}/null"] },
        { "null-device", "it is a character device, not a regular file", ["export", "-f", "sparse", "-c", "{ckpt}", "-o", "{work}/null"] },
        { "null-device+sparse", "it is a character device, not a regular file", ["import", "-f", "sparse", "-i", "{work}/m.sparse", "-o", "{work}/null"] },
        { "null-device", "it is a character device, not a regular file", ["plot-dynamics", "-o", "{work}/null.png", "a={csv}"] },
        { "sidecar-device", "o.ckpt.json (the sidecar of --out", ["prune", "-c", "{ckpt}", "-s", "0.5", "-o", "{work}/o.ckpt", "-q"] },
        { "null-device", "it is a character device; give a folder", ["sweep", "-c", "{ckpt}", "-m", "mp", "-s", "0.5", "-o", "{work}/null", "-q"] },
        { "null-device", "it is a character device; give a folder", ["report", "sweep", "{csv}", "-o", "{work}/null"] },
        { "null-device", "is a character device, not a regular file", ["eval", "-c", "{work}/null"] },
        { "null-device", "is a character device, not a regular file", ["import", "-f", "safetensors", "-i", "{work}/null", "-o", "{work}/out/m.ckpt"] },
    };

    /// <summary>Files a user may not read (chmod 000). Root reads them anyway, so under root (as in CI) the CLI runs as
    /// another user (<see cref="CliRunner.RunUnprivileged"/>); the phrase names the file, so the error is about it.</summary>
    public static TheoryData<string, string, string[]> UnreadableCases => new()
    {
        { "unreadable-weights", "bad.ckpt' is denied", ["eval", "-c", "{work}/bad.ckpt"] },
        { "unreadable-sidecar", "bad.ckpt.json' is denied", ["eval", "-c", "{work}/bad.ckpt"] },
        { "unreadable-data", "train-labels-idx1-ubyte.gz' is denied", ["eval", "-c", "{ckpt}", "--data", "{work}/data"] },
        { "unreadable-csv", "bad.csv' is denied", ["plot-dynamics", "-o", "{work}/out/d.png", "a={work}/bad.csv"] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void BadInput_OneClearLine_ExitCode2_NothingLeftBehind(string setup, string phrase, string[] args) =>
        RunCase(setup, phrase, args);

    [Theory]
    [MemberData(nameof(UnreadableCases))]
    public void UnreadableInput_OneClearLine_ExitCode2(string setup, string phrase, string[] args) =>
        RunCase(setup, phrase, args, unprivileged: true);

    [MknodTheory]
    [MemberData(nameof(DeviceCases))]
    public void DeviceAsInputOrOutput_OneClearLine_ExitCode2_DeviceUntouched(string setup, string phrase, string[] args) =>
        RunCase(setup, phrase, args);

    /// <summary>What a setup keeps open while the case runs (a bound socket: .NET unlinks its file when it closes).</summary>
    private readonly List<IDisposable> held = [];

    private void RunCase(string setup, string phrase, string[] args, bool unprivileged = false)
    {
        try { RunCaseHolding(setup, phrase, args, unprivileged); }
        finally { held.ForEach(h => h.Dispose()); }
    }

    private void RunCaseHolding(string setup, string phrase, string[] args, bool unprivileged)
    {
        string work = fixture.NewWorkFolder();
        foreach (string part in setup.Split('+')) // setups combine: "sparse+fifo"
            Prepare(part, work);
        var before = CliCheckpointFixture.Snapshot(work);
        var good = CliCheckpointFixture.Snapshot(fixture.Good);
        var expanded = args.Select(a => a
            .Replace("{work}", work).Replace("{ckpt}", fixture.Checkpoint).Replace("{data}", fixture.Data)
            .Replace("{small}", fixture.SmallData).Replace("{csv}", fixture.DynamicsCsv).Replace("{png}", fixture.Png)).ToArray();

        var r = unprivileged ? CliRunner.RunUnprivileged(work, expanded) : CliRunner.Run(work, expanded);

        AssertCleanError(r, phrase);
        Assert.False(Directory.Exists(Path.Combine(work, "out")), "the output folder was created");
        Assert.Equal(before, CliCheckpointFixture.Snapshot(work)); // no partial output, no temporary files
        Assert.Equal(good, CliCheckpointFixture.Snapshot(fixture.Good));
        foreach (var path in expanded.Where(a => a.StartsWith("/proc/", StringComparison.Ordinal)))
            Assert.False(File.Exists(path), $"{path} was created");
    }

    internal static void AssertCleanError(CliRunner.Result r, string phrase)
    {
        string all = $"exit code {r.ExitCode}\nstderr:\n{r.Stderr}\nstdout:\n{r.Stdout}";
        Assert.True(r.ExitCode == 2, all);
        var lines = r.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, "expected one line on stderr: " + all);
        Assert.StartsWith("error: ", lines[0]);
        Assert.Contains(phrase, lines[0]);
        Assert.DoesNotContain("   at ", r.Stderr);
        Assert.DoesNotContain("Exception", r.Stderr);
        Assert.Equal("", r.Stdout);
    }

    /// <summary>Puts the bad input of <paramref name="setup"/> into <paramref name="work"/>.</summary>
    private void Prepare(string setup, string work)
    {
        string bad = Path.Combine(work, "bad.ckpt"), data = Path.Combine(work, "data"), csv = Path.Combine(work, "bad.csv");
        byte[] weights = File.ReadAllBytes(fixture.Checkpoint);
        string sidecar = File.ReadAllText(fixture.Sidecar);
        switch (setup)
        {
            case "":
                break;
            case "file":
                File.WriteAllText(Path.Combine(work, "file.txt"), "a file, not a folder\n");
                break;
            case "png-no-sidecar":
                File.Copy(fixture.Png, bad);
                break;
            case "png-rehashed":
                WriteCheckpoint(bad, File.ReadAllBytes(fixture.Png), sidecar, rehash: true);
                break;
            case "text-rehashed":
                WriteCheckpoint(bad, "just some text\n"u8.ToArray(), sidecar, rehash: true);
                break;
            case "truncated":
                WriteCheckpoint(bad, weights[..(weights.Length / 2)], sidecar, rehash: false);
                break;
            case "truncated-rehashed":
                WriteCheckpoint(bad, weights[..(weights.Length / 2)], sidecar, rehash: true);
                break;
            case "bitflip":
                var flipped = (byte[])weights.Clone();
                flipped[flipped.Length / 2] ^= 0x10;
                WriteCheckpoint(bad, flipped, sidecar, rehash: false);
                break;
            case "sidecar-garbage":
                WriteCheckpoint(bad, weights, "{ not json", rehash: false);
                break;
            case "sidecar-format":
                WriteCheckpoint(bad, weights, Edit(sidecar, j => j["format"] = "surgeon-checkpoint/99"), rehash: false);
                break;
            case "sidecar-width":
                WriteCheckpoint(bad, weights, Edit(sidecar, j => j["width"] = 2.0), rehash: false);
                break;
            case "sidecar-classes":
                WriteCheckpoint(bad, weights, Edit(sidecar, j => j["numClasses"] = 5), rehash: false);
                break;
            case "sidecar-vgg13":
                WriteCheckpoint(bad, weights, Edit(sidecar, j => j["architecture"] = "vgg13"), rehash: false);
                break;
            case "sidecar-arch":
                WriteCheckpoint(bad, weights, Edit(sidecar, j => j["architecture"] = "mlp9000"), rehash: false);
                break;
            case "nan":
                WriteWithWeight(bad, float.NaN);
                File.WriteAllText(bad + ".json", sidecar); // the old hash: the SHA-256 check catches it first
                break;
            case "nan-rehashed":
                WriteWithWeight(bad, float.NaN);
                break;
            case "inf-rehashed":
                WriteWithWeight(bad, float.PositiveInfinity);
                break;
            case "data-truncated":
                CopyFolder(fixture.Data, data);
                var images = File.ReadAllBytes(Path.Combine(data, "train-images-idx3-ubyte.gz"));
                var raw = Gunzip(images);
                File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte.gz"), raw[..(raw.Length / 2)]);
                break;
            case "data-magic":
                CopyFolder(fixture.Data, data);
                File.Copy(fixture.Png, Path.Combine(data, "t10k-labels-idx1-ubyte.gz"), overwrite: true);
                break;
            case "data-no-files":
                Directory.CreateDirectory(data);
                File.WriteAllText(Path.Combine(data, "README"), "no IDX files here\n");
                break;
            case "data-zero":
                CopyFolder(fixture.Data, data);
                Surgeon.Data.IdxFile.Write(Path.Combine(data, "train-images-idx3-ubyte.gz"), new([0, 28, 28], []), gzip: true);
                Surgeon.Data.IdxFile.Write(Path.Combine(data, "train-labels-idx1-ubyte.gz"), new([0], []), gzip: true);
                break;
            case "cifar-truncated":
                string cifar = Directory.CreateDirectory(Path.Combine(work, "cifar")).FullName;
                for (int i = 1; i <= 5; i++)
                    File.WriteAllBytes(Path.Combine(cifar, $"data_batch_{i}.bin"), new byte[2 * 3073]);
                File.WriteAllBytes(Path.Combine(cifar, "test_batch.bin"), new byte[3073 + 1000]);
                break;
            case "npm-garbage":
                Directory.CreateDirectory(Path.Combine(work, "npm"));
                File.WriteAllText(Path.Combine(work, "npm", "0.json"), "{\"data\": [0.1, 0.2");
                break;
            case "csv-cut":
                string full = File.ReadAllText(fixture.DynamicsCsv);
                File.WriteAllText(csv, full[..(full.IndexOf('\n', full.IndexOf('\n') + 1) + 12)]);
                break;
            case "csv-header-only":
                File.WriteAllText(csv, File.ReadLines(fixture.DynamicsCsv).First() + "\n");
                break;
            case "csv-garbage-cell":
                var lines = File.ReadAllLines(fixture.DynamicsCsv);
                lines[2] = "1,abc" + lines[2][lines[2].IndexOf(',', 2)..];
                File.WriteAllLines(csv, lines);
                break;
            case "sparse":
                ExportFixture("sparse", Path.Combine(work, "m.sparse"));
                break;
            case "sparse-truncated":
                File.WriteAllBytes(Path.Combine(work, "bad.sparse"), ExportFixture("sparse")[..^100]);
                break;
            case "sparse-cut-short":
                File.WriteAllBytes(Path.Combine(work, "bad.sparse"), ExportFixture("sparse")[..12]);
                break;
            case "sparse-bitflip":
                File.WriteAllBytes(Path.Combine(work, "bad.sparse"), FlipMiddleBit(ExportFixture("sparse")));
                break;
            case "sparse-empty":
                File.WriteAllBytes(Path.Combine(work, "bad.sparse"), []);
                break;
            case "safetensors":
                ExportFixture("safetensors", Path.Combine(work, "m.safetensors"));
                break;
            case "safetensors-truncated":
                File.WriteAllBytes(Path.Combine(work, "bad.safetensors"), ExportFixture("safetensors")[..^100]);
                break;
            case "safetensors-cut-short":
                File.WriteAllBytes(Path.Combine(work, "bad.safetensors"), ExportFixture("safetensors")[..5]);
                break;
            case "safetensors-bitflip":
                File.WriteAllBytes(Path.Combine(work, "bad.safetensors"), FlipMiddleBit(ExportFixture("safetensors")));
                break;
            case "safetensors-header-garbage":
                File.WriteAllBytes(Path.Combine(work, "bad.safetensors"), [0x0A, 0, 0, 0, 0, 0, 0, 0, .. "{not json}"u8]);
                break;
            case "safetensors-bad-dtype":
                byte[] st = ExportFixture("safetensors");
                int at = Encoding.ASCII.GetString(st).IndexOf("\"F32\"", StringComparison.Ordinal);
                st[at + 3] = (byte)'3'; // "F32" → "F33", the same length
                File.WriteAllBytes(Path.Combine(work, "bad.safetensors"), st);
                break;
            case "safetensors-foreign":
                // The fixture's weights as another tool would write them: no surgeon metadata at all.
                var (foreignModel, _) = Checkpoint.Load(fixture.Checkpoint);
                using (foreignModel)
                    File.WriteAllBytes(Path.Combine(work, "bad.safetensors"), SafetensorsWriter.Build(ModelState.Read(foreignModel), new Dictionary<string, string>()));
                break;
            case "unreadable-weights":
                WriteCheckpoint(bad, weights, sidecar, rehash: false);
                MakeUnreadable(bad);
                break;
            case "unreadable-sidecar":
                WriteCheckpoint(bad, weights, sidecar, rehash: false);
                MakeUnreadable(bad + ".json");
                break;
            case "unreadable-data":
                CopyFolder(fixture.Data, data);
                MakeUnreadable(Path.Combine(data, "train-labels-idx1-ubyte.gz"));
                break;
            case "unreadable-csv":
                File.Copy(fixture.DynamicsCsv, csv);
                MakeUnreadable(csv);
                break;
            case "sweep-empty":
                Directory.CreateDirectory(Path.Combine(work, "sweep"));
                break;
            case "sweep-garbage":
                Directory.CreateDirectory(Path.Combine(work, "sweep"));
                File.WriteAllText(Path.Combine(work, "sweep", "sweep.json"), "{ not json");
                break;
            case "sweep-journal":
                File.WriteAllText(Path.Combine(work, "s.jsonl"), Reports.SweepFiles.Journal());
                break;
            case "journal-garbage-line":
                var journalLines = Reports.SweepFiles.Journal().Split('\n');
                journalLines[2] = "{\"key\":\"new\",\"point\":{\"method\":\"mp\",garbage";
                File.WriteAllText(Path.Combine(work, "s.jsonl"), string.Join('\n', journalLines));
                break;
            case "journal-accuracy":
                // Also the journal of a sweep folder: a sweep run on {work} must not resume from (or write beside) it.
                File.WriteAllText(Path.Combine(work, "s.jsonl"), Reports.SweepFiles.Line("k", "mp", 0.9, 0, 0.5) + "\n" + Reports.SweepFiles.Line("k", "mp", 0.5, 0, 1.5) + "\n");
                File.Copy(Path.Combine(work, "s.jsonl"), Path.Combine(work, "points.jsonl"));
                break;
            case "sweep-accuracy":
                Directory.CreateDirectory(Path.Combine(work, "sweep"));
                File.WriteAllText(Path.Combine(work, "sweep", "sweep.json"), Edit(Reports.SweepFiles.ReportJson("mp", 0.95), j => j["points"]![0]!["accuracy"] = 1.5));
                break;
            case "data-overflow":
                CopyFolder(fixture.Data, data);
                // Three dimensions of 2³¹ − 1: their product overflows 64 bits.
                File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte.gz"), [0, 0, 8, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3]);
                break;
            case "data-huge-header":
                CopyFolder(fixture.Data, data);
                // 2³¹ − 1 images of 28×28 in a file of a few bytes: refused before 1.6 TB are allocated.
                File.WriteAllBytes(Path.Combine(data, "train-images-idx3-ubyte.gz"), [0, 0, 8, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]);
                break;
            case "data-huge-header-gz":
                CopyFolder(fixture.Data, data);
                using (var gz = new System.IO.Compression.GZipStream(File.Create(Path.Combine(data, "train-images-idx3-ubyte.gz")), System.IO.Compression.CompressionLevel.Optimal))
                    gz.Write([0, 0, 8, 3, 0x7F, 0xFF, 0xFF, 0xFF, 0, 0, 0, 28, 0, 0, 0, 28, 1, 2, 3]);
                break;
            case "sidecar-huge-width":
                // fc2 would be 80,000 × 40,000 floats (12.8 GB): refused before the model is built.
                WriteCheckpoint(bad, weights, Edit(sidecar, j => j["width"] = 2000.0), rehash: false);
                break;
            case "fifo":
                // A FIFO with a sidecar beside it, so a reader that does not check would block opening it.
                MakeNode(Path.Combine(work, "fifo"), "p");
                MakeNode(Path.Combine(work, "fifo.png"), "p");
                File.WriteAllText(Path.Combine(work, "fifo.json"), sidecar);
                break;
            case "null-device":
                MakeNode(Path.Combine(work, "null"), "c", "1", "3");
                MakeNode(Path.Combine(work, "null.png"), "c", "1", "3");
                File.WriteAllText(Path.Combine(work, "null.json"), sidecar);
                break;
            case "sidecar-device":
                MakeNode(Path.Combine(work, "o.ckpt.json"), "c", "1", "3");
                break;
            case "socket":
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                socket.Bind(new System.Net.Sockets.UnixDomainSocketEndPoint(Path.Combine(work, "sock")));
                held.Add(socket);
                break;
            case "symlink":
                File.WriteAllText(Path.Combine(work, "target.txt"), "what the links point to\n");
                File.CreateSymbolicLink(Path.Combine(work, "link"), "target.txt");
                File.CreateSymbolicLink(Path.Combine(work, "link.png"), "target.txt");
                break;
            case "ckpt-copy":
                foreach (string from in new[] { fixture.Checkpoint, fixture.Sidecar, fixture.DynamicsCsv, fixture.Png })
                    File.Copy(from, Path.Combine(work, "m.ckpt" + from[fixture.Checkpoint.Length..]));
                Directory.CreateDirectory(Path.Combine(work, "sub"));
                Run("ln", Path.Combine(work, "m.ckpt"), Path.Combine(work, "hard.ckpt"));
                break;
            case "ckpt-named-json":
                File.WriteAllBytes(Path.Combine(work, "q.json"), weights);
                File.WriteAllText(Path.Combine(work, "q.json.json"), sidecar);
                break;
            case "sidecar-folder":
                Directory.CreateDirectory(Path.Combine(work, "o.ckpt.json"));
                break;
            case "dynamics-folder":
                Directory.CreateDirectory(Path.Combine(work, "o.ckpt.dynamics.csv"));
                break;
            case "sidecar-fifo":
                File.WriteAllBytes(Path.Combine(work, "s.ckpt"), weights);
                MakeNode(Path.Combine(work, "s.ckpt.json"), "p");
                break;
            case "data-copy":
                CopyFolder(fixture.Data, data);
                break;
            case "data-fifo":
                CopyFolder(fixture.Data, data);
                File.Delete(Path.Combine(data, "train-labels-idx1-ubyte.gz"));
                MakeNode(Path.Combine(data, "train-labels-idx1-ubyte.gz"), "p");
                break;
            case "cifar-fifo":
                string cifarFolder = Directory.CreateDirectory(Path.Combine(work, "cifar")).FullName;
                for (int i = 1; i <= 5; i++)
                    File.WriteAllBytes(Path.Combine(cifarFolder, $"data_batch_{i}.bin"), new byte[2 * 3073]);
                MakeNode(Path.Combine(cifarFolder, "test_batch.bin"), "p");
                break;
            case "npm-fifo":
                Directory.CreateDirectory(Path.Combine(work, "npm"));
                MakeNode(Path.Combine(work, "npm", "0.json"), "p");
                break;
            case "sparse-as-json":
                ExportFixture("sparse", Path.Combine(work, "m.json"));
                break;
            case "csv-as-png":
                File.Copy(fixture.DynamicsCsv, Path.Combine(work, "d.png"));
                break;
            case "sweep-out-md-folder":
                Directory.CreateDirectory(Path.Combine(work, "sw", "sweep.md"));
                break;
            case "journal-symlink":
                Directory.CreateDirectory(Path.Combine(work, "sw"));
                File.CreateSymbolicLink(Path.Combine(work, "sw", "points.jsonl"), Path.Combine(work, "m.ckpt"));
                break;
            case "journal-fifo":
                Directory.CreateDirectory(Path.Combine(work, "sw"));
                MakeNode(Path.Combine(work, "sw", "points.jsonl"), "p");
                break;
            case "lock-fifo":
                Directory.CreateDirectory(Path.Combine(work, "sw"));
                MakeNode(Path.Combine(work, "sw", Surgeon.IO.FolderLock.FileName), "p");
                break;
            case "ckpt-in-sweep-folder":
                Directory.CreateDirectory(Path.Combine(work, "sw"));
                File.WriteAllBytes(Path.Combine(work, "sw", "sweep.json"), weights);
                File.WriteAllText(Path.Combine(work, "sw", "sweep.json.json"), sidecar);
                break;
            case "demo-sidecar-folder":
                Directory.CreateDirectory(Path.Combine(work, "d", "mlpnet-digits.ckpt.json"));
                break;
            case "ckpt-as-bench-md":
                File.WriteAllBytes(Path.Combine(work, "bench-model.md"), weights);
                File.WriteAllText(Path.Combine(work, "bench-model.md.json"), sidecar);
                break;
            case "layers-md-fifo":
                Directory.CreateDirectory(Path.Combine(work, "rl"));
                MakeNode(Path.Combine(work, "rl", "m-layers.md"), "p");
                break;
            case "sweep-json-fifo":
                Directory.CreateDirectory(Path.Combine(work, "sweep"));
                MakeNode(Path.Combine(work, "sweep", "sweep.json"), "p");
                break;
            case "sweep-journal-in-folder":
                // A sweep folder holding only its journal, merged with another: the merged sweep.json would then claim the folder.
                Directory.CreateDirectory(Path.Combine(work, "j"));
                File.WriteAllText(Path.Combine(work, "j", "points.jsonl"), Reports.SweepFiles.SingleMethodJournal("cbs", 0.7));
                File.WriteAllText(Path.Combine(work, "s.jsonl"), Reports.SweepFiles.Journal());
                break;
            case "sweep-two-dense":
                foreach (var (folder, method, dense) in new[] { ("a", "mp", 0.95), ("b", "wf", 0.90) })
                {
                    Directory.CreateDirectory(Path.Combine(work, folder));
                    File.WriteAllText(Path.Combine(work, folder, "sweep.json"), Reports.SweepFiles.ReportJson(method, dense));
                }
                break;
            default:
                throw new ArgumentException($"unknown setup '{setup}'", nameof(setup));
        }
    }

    /// <summary>The fixture's checkpoint exported to <paramref name="format"/>, optionally written to <paramref name="path"/>.</summary>
    private byte[] ExportFixture(string format, string? path = null)
    {
        var (model, info) = Checkpoint.Load(fixture.Checkpoint);
        using (model)
        {
            var bytes = format == "sparse" ? SparseFile.Build(info, ModelState.Read(model)).Bytes : SafetensorsExport.Build(model, info);
            if (path is not null) File.WriteAllBytes(path, bytes);
            return bytes;
        }
    }

    /// <summary>The bytes with one bit flipped in the middle (in the weights' data).</summary>
    private static byte[] FlipMiddleBit(byte[] bytes)
    {
        var flipped = (byte[])bytes.Clone();
        flipped[flipped.Length / 2] ^= 0x10;
        return flipped;
    }

    /// <summary>Writes weights and a sidecar; with <paramref name="rehash"/> the sidecar's SHA-256 is that of the new
    /// weights, so the checks after the hash are the ones exercised.</summary>
    private static void WriteCheckpoint(string path, byte[] weights, string sidecar, bool rehash)
    {
        File.WriteAllBytes(path, weights);
        if (rehash)
            sidecar = Edit(sidecar, j => j["weightsSha256"] = Convert.ToHexString(SHA256.HashData(weights)).ToLowerInvariant());
        File.WriteAllText(path + ".json", sidecar);
    }

    /// <summary>The good checkpoint with one weight replaced, its sidecar's hash that of the new weights (surgeon itself
    /// refuses to save NaN or infinite weights, so the file is written by TorchSharp directly).</summary>
    private void WriteWithWeight(string path, float value)
    {
        var (model, _) = Checkpoint.Load(fixture.Checkpoint);
        using (model)
        {
            using (torch.no_grad())
            {
                var first = model.parameters().First();
                using var v = torch.tensor(value);
                first[0, 0] = v;
            }
            model.save(path);
        }
        WriteCheckpoint(path, File.ReadAllBytes(path), File.ReadAllText(fixture.Sidecar), rehash: true);
    }

    /// <summary>mkfifo (kind "p") or mknod (kind "c" or "b" with major and minor numbers) at <paramref name="path"/>.</summary>
    internal static void MakeNode(string path, string kind, params string[] numbers)
    {
        if (kind == "p") Run("mkfifo", path);
        else Run("mknod", [path, kind, .. numbers]);
    }

    private static void Run(string program, params string[] args)
    {
        var psi = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var p = System.Diagnostics.Process.Start(psi)!;
        string error = p.StandardError.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{program} {string.Join(' ', args)} failed: {error}");
    }

    private static void MakeUnreadable(string path)
    {
        if (!OperatingSystem.IsWindows())
            File.SetUnixFileMode(path, UnixFileMode.None);
    }

    private static string Edit(string json, Action<JsonObject> edit)
    {
        var node = JsonNode.Parse(json)!.AsObject();
        edit(node);
        return node.ToJsonString();
    }

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string f in Directory.GetFiles(from))
            File.Copy(f, Path.Combine(to, Path.GetFileName(f)));
    }

    private static byte[] Gunzip(byte[] gz)
    {
        using var input = new System.IO.Compression.GZipStream(new MemoryStream(gz), System.IO.Compression.CompressionMode.Decompress);
        using var output = new MemoryStream();
        input.CopyTo(output);
        return output.ToArray();
    }
}

/// <summary>A theory skipped where a device node cannot be made (mknod needs root, or CAP_MKNOD in a container).</summary>
public sealed class MknodTheoryAttribute : TheoryAttribute
{
    private static readonly Lazy<string?> Refusal = new(() =>
    {
        if (!OperatingSystem.IsLinux()) return "device nodes are made with mknod on Linux only";
        string dir = Directory.CreateTempSubdirectory("surgeon-mknod-").FullName;
        try
        {
            BadInputTests.MakeNode(Path.Combine(dir, "null"), "c", "1", "3");
            return Surgeon.IO.FileNode.Of(Path.Combine(dir, "null")).Kind == Surgeon.IO.FileKind.CharacterDevice ? null : "mknod made no character device";
        }
        catch (InvalidOperationException e)
        {
            return $"mknod is not permitted here ({e.Message.Trim()})";
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    });

    public MknodTheoryAttribute()
    {
        if (Refusal.Value is { } reason) Skip = reason;
    }
}
