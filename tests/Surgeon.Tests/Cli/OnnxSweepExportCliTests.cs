using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Onnx;
using Surgeon.Export.Safetensors;
using Surgeon.Export.Sparse;
using Surgeon.Models.Onnx;
using Surgeon.Tests.Models.Onnx;

namespace Surgeon.Tests.Cli;

/// <summary>
/// <c>surgeon sweep --onnx</c> and <c>surgeon export --onnx</c> on an imported graph. The sweep is checked against
/// separate commands (eval --onnx on the file; prune --onnx, then eval --onnx on what it wrote); the export against
/// the initializers of the ONNX file prune --onnx wrote, decoded here from the protobuf's bytes.
/// </summary>
public partial class OnnxSweepExportCliTests() : OnnxCliFolder("onnx-sweep-")
{
    [Fact]
    public void SweepDenseAndPrunedPointsEqualEvalOfTheFilesPruneWrites()
    {
        string data = Data(), sweep = Path.Combine(Dir, "sweep"), onnx = ImportFixtures.Onnx("resnet");
        var r = CliRunner.Run(Dir, "sweep", "--onnx", onnx, "--data", data, "--methods", "lmp,magnitude@filter", "--sparsities", "0.5",
            "--out-dir", sweep, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("resnet.onnx on", r.Stdout);
        foreach (string file in new[] { "sweep.md", "sweep.csv", "sweep.json", "sweep.png" })
            Assert.True(File.Exists(Path.Combine(sweep, file)), file);
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(sweep, "sweep.json")));
        var dense = json.RootElement.GetProperty("dense");

        // Sparsity 0 (the dense row) is what eval --onnx gives on the file.
        var eval = EvalOnnx(onnx, data);
        Assert.Equal(eval.Accuracy, dense.GetProperty("accuracy").GetDouble(), 1e-9);
        Assert.Equal(eval.Loss, dense.GetProperty("loss").GetDouble(), 4);

        // Each pruned point is what eval --onnx gives on the file prune --onnx writes for that method and sparsity.
        var summary = json.RootElement.GetProperty("summary").EnumerateArray().ToList();
        foreach (string method in new[] { "lmp", "magnitude@filter" })
        {
            string pruned = Path.Combine(Dir, $"{method.Replace('@', '-')}.onnx");
            var p = CliRunner.Run(Dir, "prune", "--onnx", onnx, "--data", data, "--method", method, "--sparsity", "0.5", "--out", pruned, "--quiet");
            Assert.True(p.ExitCode == 0, p.Stderr);
            var point = summary.Single(s => s.GetProperty("method").GetString() == method && s.GetProperty("sparsity").GetDouble() == 0.5);
            var after = EvalOnnx(pruned, data);
            Assert.Equal(after.Accuracy, point.GetProperty("accuracyMean").GetDouble(), 1e-9);
            Assert.Equal(after.Loss, point.GetProperty("lossMean").GetDouble(), 4);
        }
    }

    [Fact]
    public void ExportedSafetensorsAndSparseHoldTheInitializersOfThePrunedFile()
    {
        string data = Data(), pruned = Path.Combine(Dir, "p.onnx"), st = Path.Combine(Dir, "p.safetensors"), sparse = Path.Combine(Dir, "p.sparse");
        var r = CliRunner.Run(Dir, "prune", "--onnx", ImportFixtures.Onnx("resnet"), "--data", data, "--method", "lmp", "--sparsity", "0.5",
            "--out", pruned, "--quiet");
        Assert.True(r.ExitCode == 0, r.Stderr);
        r = CliRunner.Run(Dir, "export", "--onnx", pruned, "--format", "safetensors", "--out", st);
        Assert.True(r.ExitCode == 0, r.Stderr);
        r = CliRunner.Run(Dir, "export", "--onnx", pruned, "--format", "sparse", "--out", sparse);
        Assert.True(r.ExitCode == 0, r.Stderr);
        Assert.Contains("dense ONNX file", r.Stdout);

        // The layer tensors: every initializer a Conv, BatchNormalization or Gemm node reads after its data input.
        var proto = OnnxFile.Read(pruned);
        var initializers = proto.Graph.Initializer.ToDictionary(t => t.Name);
        var expected = proto.Graph.Node.Where(n => n.OpType is "Conv" or "BatchNormalization" or "Gemm")
            .SelectMany(n => n.Input.Skip(1)).Where(initializers.ContainsKey).ToHashSet();
        Assert.True(expected.Count >= 10, $"{expected.Count} layer initializers");

        var fromSafetensors = SafetensorsReader.Read(st).Tensors;
        var fromSparse = SparseFile.Parse(File.ReadAllBytes(sparse), sparse).Tensors;
        foreach (var (file, tensors) in new[] { ("safetensors", fromSafetensors), ("sparse", fromSparse) })
        {
            Assert.Equal(expected.OrderBy(n => n, StringComparer.Ordinal), tensors.Select(t => t.Name).OrderBy(n => n, StringComparer.Ordinal));
            foreach (var t in tensors)
            {
                var init = initializers[t.Name];
                Assert.Equal(init.Dims.ToArray(), t.Shape);
                Assert.Equal("F32", t.DType);
                if (file == "safetensors") // bit for bit
                    Assert.True(FloatBytes(init).AsSpan().SequenceEqual(t.Data), $"{file}: {t.Name} differs from its initializer");
                else // the sparse file stores zeros by position, so a pruned −0.0 reads back as +0.0: equal as numbers
                    Assert.Equal(Floats(FloatBytes(init)), Floats(t.Data));
            }
        }
        // lmp at 0.5: each Conv and Gemm weight has half its entries zero (rounded down).
        foreach (var node in proto.Graph.Node.Where(n => n.OpType is "Conv" or "Gemm"))
        {
            var w = fromSafetensors.Single(t => t.Name == node.Input[1]);
            long zeros = Enumerable.Range(0, (int)w.Elements).Count(i => BitConverter.ToSingle(w.Data, 4 * i) == 0);
            Assert.Equal(w.Elements / 2, zeros);
        }
    }

    [Fact]
    public void ExportOnnxWritesTheGraphAgain()
    {
        string output = Path.Combine(Dir, "again.onnx");
        var r = CliRunner.Run(Dir, "export", "--onnx", ImportFixtures.Onnx("concat"), "--format", "onnx", "--out", output);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var (before, _) = ImportFixtures.RunOrt(ImportFixtures.Onnx("concat"), ImportFixtures.Input());
        var (after, _) = ImportFixtures.RunOrt(output, ImportFixtures.Input());
        Assert.Equal(before, after);
    }

    [Fact]
    public void BadInputIsOneLineAndNothingIsWritten()
    {
        string notOnnx = Path.Combine(Dir, "notes.onnx"), output = Path.Combine(Dir, "out.safetensors"), folder = Path.Combine(Dir, "sw");
        File.WriteAllText(notOnnx, "these are notes, not a model\n");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "export", "--onnx", notOnnx, "--format", "safetensors", "--out", output), "not an ONNX model");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "export", "--onnx", ImportFixtures.Onnx("mlp"), "--format", "bmp", "--out", output), "unknown export format");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "export", "--onnx", ImportFixtures.Onnx("mlp"), "-c", "x.ckpt", "--format", "sparse", "--out", output), "not both");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "export", "--format", "sparse", "--out", output), "--onnx");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "sweep", "--onnx", notOnnx, "--methods", "mp", "--sparsities", "0.5", "--out-dir", folder), "not an ONNX model");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "sweep", "--onnx", ImportFixtures.Onnx("mlp"), "--plan-only", "--out-dir", folder), "--plan-only needs a checkpoint");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "sweep", "--onnx", ImportFixtures.Onnx("mlp"), "-c", "x.ckpt", "--out-dir", folder), "not both");
        CliRunner.AssertCleanError(CliRunner.Run(Dir, "sweep", "--onnx", ImportFixtures.Onnx("mlp"), "--methods", "mp", "--sparsities", "1.5", "--out-dir", folder), "1.5");
        Assert.False(File.Exists(output));
        Assert.False(Directory.Exists(folder));
    }

    /// <summary>A float initializer's little-endian bytes, from raw_data or float_data as the file holds them.</summary>
    private static byte[] FloatBytes(TensorProto t)
    {
        Assert.Equal((int)TensorProto.Types.DataType.Float, t.DataType);
        if (!t.RawData.IsEmpty) return t.RawData.ToByteArray();
        return t.FloatData.SelectMany(BitConverter.GetBytes).ToArray();
    }

    private static float[] Floats(byte[] bytes) => Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();

    private static (double Accuracy, double Loss) EvalOnnx(string path, string data)
    {
        var r = CliRunner.Run(Path.GetDirectoryName(path)!, "eval", "--onnx", path, "--data", data);
        Assert.True(r.ExitCode == 0, r.Stderr);
        var m = EvalLine().Match(r.Stdout);
        Assert.True(m.Success, r.Stdout);
        return (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) / 100, double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"accuracy ([0-9.]+) %, loss ([0-9.]+) \(")]
    private static partial Regex EvalLine();

}
