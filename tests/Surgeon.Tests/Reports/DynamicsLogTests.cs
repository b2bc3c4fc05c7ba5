using Surgeon.Training;
using Surgeon.Reports;
using Xunit;

namespace Surgeon.Tests.Reports;

public class DynamicsLogTests
{
    [Fact]
    public void CsvRoundTripsEveryField_IncludingMissingValuesAndQuotedEvents()
    {
        var dir = Directory.CreateTempSubdirectory("surgeon-dyn-");
        try
        {
            string csv = Path.Combine(dir.FullName, "dynamics.csv");
            var log = new DynamicsLog(csv);
            var a = new DynamicsRecord { Epoch = 0, Step = 0, ThetaNormSquared = 12.5, Parameters = 1000, Flops = 20000 };
            var b = new DynamicsRecord
            {
                Epoch = 1,
                Step = 94,
                LearningRate = 0.05,
                TrainLoss = 0.731,
                TrainAccuracy = 0.75,
                TestLoss = 0.6,
                TestAccuracy = 0.8,
                ThetaNormSquared = 13.25,
                ThetaDotGrad = -0.125,
                GradNormSquared = 1e-3,
                ThetaHessGrad = -2.5e-4,
                Parameters = 400,
                Flops = 9000,
                Event = "pruned 50.0% of filters, \"round\" 1/1",
            };
            log.Add(a);
            Assert.Single(DynamicsLog.ReadCsv(csv)); // written after every record
            log.Add(b);
            var back = DynamicsLog.ReadCsv(csv);
            Assert.Equal([a, b], back);
            Assert.Empty(dir.GetFiles(".*tmp*"));
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void ForeignFilesAreRejected()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, "a,b,c\n1,2,3\n");
            var e = Assert.Throws<SurgeonException>(() => DynamicsLog.ReadCsv(path));
            Assert.Contains("not a dynamics CSV", e.Message);
            File.WriteAllText(path, string.Join(',', DynamicsLog.Columns) + "\n1,2,3\n");
            Assert.Contains("expected 14 cells", Assert.Throws<SurgeonException>(() => DynamicsLog.ReadCsv(path)).Message);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void Plot_DrawsRunsThatShareALabelAsTheirMeanWithStdBars_AndAPruningRecordAsAStep()
    {
        List<DynamicsRecord> Run(double scale) =>
            Enumerable.Range(1, 4).Select(e => new DynamicsRecord { Epoch = e, TrainLoss = scale / e }).ToList();
        var pruned = Run(2);
        pruned.Insert(2, new DynamicsRecord { Epoch = 2, TrainLoss = 5, Event = "pruned 50.0 % of the current filters" });
        var plot = DynamicsPlot.Build([("magnitude", Run(1)), ("magnitude", Run(1.2)), ("grasp", pruned)], DynamicsQuantity.Get("train_loss"), null);

        var lines = plot.GetPlottables().OfType<ScottPlot.Plottables.Scatter>().ToList();
        Assert.Equal(["magnitude", "grasp"], lines.Select(l => l.LegendText));
        // magnitude: per epoch e the mean of 1/e and 1.2/e, with one error bar series of their sample std 0.1·√2/e.
        var magnitude = lines[0].Data.GetScatterPoints();
        Assert.Equal([1.0, 2, 3, 4], magnitude.Select(c => c.X));
        for (int e = 1; e <= 4; e++)
            Assert.Equal(1.1 / e, magnitude[e - 1].Y, 12);
        var bars = Assert.Single(plot.GetPlottables().OfType<ScottPlot.Plottables.ErrorBar>());
        for (int e = 1; e <= 4; e++)
            Assert.Equal(0.1 * Math.Sqrt(2) / e, bars.YErrorPositive![e - 1], 12);
        // grasp, one run: its values, and at epoch 2 a second point for the record taken right after pruning.
        var grasp = lines[1].Data.GetScatterPoints();
        Assert.Equal([1.0, 2, 2, 3, 4], grasp.Select(c => c.X));
        Assert.Equal([2.0, 1, 5, 2.0 / 3, 0.5], grasp.Select(c => c.Y));
    }

    [Fact]
    public void Plot_WritesAPng_AndTheSixPanelFigureIsLarger()
    {
        string path = Path.Combine(Path.GetTempPath(), $"surgeon-dyn-{Guid.NewGuid():N}.png");
        try
        {
            List<DynamicsRecord> Run(double scale) =>
                Enumerable.Range(1, 4).Select(e => new DynamicsRecord { Epoch = e, TrainLoss = scale / e }).ToList();
            DynamicsPlot.Write(path, [("magnitude", Run(1)), ("magnitude", Run(1.2)), ("grasp", Run(2))],
                DynamicsQuantity.Get("train_loss"));
            var bytes = File.ReadAllBytes(path);
            Assert.True(bytes.Length > 1000);
            Assert.Equal(0x89, bytes[0]); // PNG signature
            Assert.Throws<SurgeonException>(() => DynamicsQuantity.Get("nope"));
            DynamicsPlot.WritePanels(path, [("magnitude", Run(1))]);
            Assert.True(File.ReadAllBytes(path).Length > bytes.Length); // six panels, a larger image
        }
        finally
        {
            File.Delete(path);
        }
    }
}
