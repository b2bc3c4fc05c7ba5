using System.Diagnostics;
using System.Globalization;
using Surgeon.Compression;
using Surgeon.Data;
using Surgeon.Selection;
using Surgeon.Training;
using static TorchSharp.torch;

namespace Surgeon.Bench;

/// <summary>
/// How often CBS-S's successive-halving start pick equals the exhaustive pick, and what each costs. Per (seed, sparsity):
/// the exhaustive scoring once (every randomised magnitude start on every loss sample, per-sample losses recorded and
/// timed), the exhaustive pick and the halving pick of several schedules derived from those losses, then the default
/// halving scoring run for real (timed; its pick must equal the derived one). Printed per pair: both picks, the halving
/// pick's loss above the best (its regret), both times and the load average; then the agreement per schedule.
/// Environment: SURGEON_BENCH_MODEL = mlpnet (docs/cbs-mlpnet digits MLPNet, embedded digits) or resnet20
/// (docs/cbs-resnet20, Fashion-MNIST, the paper's prunable set); SURGEON_BENCH_SEEDS (default 20, seeds 0…);
/// SURGEON_BENCH_SPARSITIES (default 0.9,0.95,0.98 for MLPNet, 0.7,0.8,0.9 for ResNet-20); SURGEON_BENCH_PAIRS (stop
/// after this many pairs, seed-major); the paper's 50 starts on 5,000 loss samples unless SURGEON_BENCH_CANDIDATES /
/// SURGEON_BENCH_LOSS_SAMPLES say otherwise. SURGEON_BENCH_REAL_HALVING=0 (the default for ResNet-20, where each
/// forward pass is costly) skips the real halving run: both picks are then derived from the one exhaustive loss matrix,
/// and the halving seconds printed are the exhaustive seconds scaled by the share of sample evaluations.
/// SURGEON_BENCH_LOSS_DIR keeps each pair's loss matrix (float64, candidates × samples) in that folder and reads it back
/// on a later run instead of recomputing it. SURGEON_BENCH_ONEDNN=1 computes the matrix with libtorch's oneDNN
/// convolutions (about 2.6× faster on ResNet-20 here; they are wrong on some other shapes, so each pair prints their
/// per-sample losses against the training path's on the first batch): the picks compared are both derived from it.
/// </summary>
internal static class CbsStartAgreementBench
{
    private static readonly (string Name, SuccessiveHalving Schedule, PairedStop Race)[] Schedules =
    [
        ("η=4 from 250, race, paired z=4 (default)", new SuccessiveHalving(), new PairedStop()),
        ("η=4 from 250, race, bound only", new SuccessiveHalving(), PairedStop.Off),
        ("η=4 from 250, no race (before)", new SuccessiveHalving(RaceLeader: false), PairedStop.Off),
        ("η=5 from 200, race, paired z=4", new SuccessiveHalving(200, 5), new PairedStop()),
        ("η=6 from 100, race, paired z=4", new SuccessiveHalving(100, 6), new PairedStop()),
        ("η=4 from 250, race, paired z=3", new SuccessiveHalving(), new PairedStop(3)),
        ("η=3 from 500, race, paired z=4", new SuccessiveHalving(500, 3), new PairedStop()),
        ("η=4 from 1000, no race", new SuccessiveHalving(1000, 4, RaceLeader: false), PairedStop.Off),
    ];

    /// <summary>A schedule's pick replayed on recorded per-sample losses, through the stopping rules of a real scoring
    /// (<see cref="MaskedRealLoss.Accumulate"/>, batches of <see cref="Evaluator.DefaultBatchSize"/>).</summary>
    private static HalvingPick Replay(SuccessiveHalving schedule, PairedStop race, double[][] losses) =>
        schedule.Pick(losses.Length, losses[0].Length, call =>
        {
            bool bound = true;
            var row = losses[call.Candidate];
            var leader = call.Leader >= 0 ? new LeaderRace(losses[call.Leader], race) : null;
            return MaskedRealLoss.Accumulate(call.From, call.To, Evaluator.DefaultBatchSize, (first, n) => row[first..(first + n)],
                call.StopAt, (double[])row.Clone(), leader, ref bound);
        });

    public static void Run()
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        string modelName = Environment.GetEnvironmentVariable("SURGEON_BENCH_MODEL") ?? "mlpnet";
        bool resnet = modelName == "resnet20";
        int seeds = Env("SURGEON_BENCH_SEEDS", 20), firstSeed = Env("SURGEON_BENCH_FIRST_SEED", 0);
        int pairs = Env("SURGEON_BENCH_PAIRS", int.MaxValue);
        int candidates = Env("SURGEON_BENCH_CANDIDATES", 50);
        int lossSamples = Env("SURGEON_BENCH_LOSS_SAMPLES", 5000);
        bool realHalving = Env("SURGEON_BENCH_REAL_HALVING", resnet ? 0 : 1) != 0;
        string? lossDir = Environment.GetEnvironmentVariable("SURGEON_BENCH_LOSS_DIR");
        bool oneDnn = Env("SURGEON_BENCH_ONEDNN", 0) != 0;
        if (lossDir is not null) Directory.CreateDirectory(lossDir);
        var sparsities = (Environment.GetEnvironmentVariable("SURGEON_BENCH_SPARSITIES") ?? (resnet ? "0.7,0.8,0.9" : "0.9,0.95,0.98"))
            .Split(',').Select(double.Parse).ToArray();
        var (model, _) = Checkpoint.Load(resnet ? "docs/cbs-resnet20/resnet20-fashion.ckpt" : "docs/cbs-mlpnet/mlpnet-digits.ckpt", CPU);
        var (train, _) = resnet ? DatasetCatalog.Load(DatasetCatalog.FashionMnist) : DatasetCatalog.LoadEmbeddedDigits();
        var parameters = PrunableParameters.Discover(model, PrunableSet.Paper);
        var w = PrunableParameters.Flatten(parameters).to(ScalarType.Float64).data<double>().ToArray();
        Console.WriteLine($"{modelName}: d = {w.Length:N0} prunable weights, {candidates} starts, {lossSamples} loss samples of {train.Count:N0} training images, " +
            $"threads {get_num_threads()}; halving rungs {string.Join("/", new SuccessiveHalving().Rungs(Math.Min(lossSamples, train.Count)))}");
        Console.WriteLine("| seed | sparsity | exhaustive pick | halving pick | agree | regret (loss above best) | exhaustive s | " +
            (realHalving ? "halving s" : "halving s (its share of the exhaustive s, not run)") + " | load avg |");
        Console.WriteLine("|---|---|---|---|---|---|---|---|---|");
        var agreements = new int[Schedules.Length];
        var regrets = Schedules.Select(_ => new List<double>()).ToArray();
        var evaluations = new long[Schedules.Length];
        double exhaustiveSeconds = 0, halvingSeconds = 0;
        int done = 0;
        for (int seed = firstSeed; seed < firstSeed + seeds && done < pairs; seed++)
        {
            foreach (double sparsity in sparsities)
            {
                if (done >= pairs) break;
                var context = new PruningContext
                {
                    Model = model,
                    Parameters = parameters,
                    TrainData = train,
                    Seed = seed,
                    Options = new PruningOptions { CbsCandidates = candidates, CbsLossSamples = lossSamples },
                };
                long k = new PruneTarget(sparsity).CountOf(w.Length);
                var samples = CbsSelection.LossSamples(context);
                var realLoss = new MaskedRealLoss(context, samples, Evaluator.DefaultBatchSize);

                // Exhaustive, recording every per-sample loss.
                var clock = Stopwatch.StartNew();
                string? file = lossDir is null ? null : Path.Combine(lossDir, $"{modelName}-s{sparsity}-seed{seed}-c{candidates}-n{samples.Length}.bin");
                var losses = file is not null && File.Exists(file) ? ReadLosses(file, candidates, samples.Length) : null;
                if (losses is null)
                {
                    losses = new double[candidates][];
                    for (int t = 0; t < candidates; t++)
                    {
                        losses[t] = new double[samples.Length];
                        var mask = RandomizedMagnitude.Pruned(w, k, t);
                        if (oneDnn)
                        {
                            var row = losses[t];
                            Surgeon.Numerics.ConvolutionBackend.RunWithOneDnn(() => realLoss.Sum(mask, 0, samples.Length, perSample: row));
                            if (t == 0)
                            {
                                // The oneDNN forward checked against the training path's on the first batch.
                                var reference = new double[samples.Length];
                                int n = Math.Min(Evaluator.DefaultBatchSize, samples.Length);
                                realLoss.Sum(mask, 0, n, perSample: reference);
                                double worst = Enumerable.Range(0, n).Max(i => Math.Abs(reference[i] - row[i]));
                                Console.WriteLine($"(seed {seed}, {sparsity}: oneDNN vs training-path per-sample loss on {n} samples: max |Δ| {worst:G3})");
                            }
                        }
                        else
                        {
                            realLoss.Sum(mask, 0, samples.Length, perSample: losses[t]);
                        }
                    }
                    if (file is not null) WriteLosses(file, losses);
                }
                double exhaustive = clock.Elapsed.TotalSeconds;
                var prefix = losses.Select(l => { var p = new double[l.Length + 1]; for (int i = 0; i < l.Length; i++) p[i + 1] = p[i] + l[i]; return p; }).ToArray();
                double Sum(int t, int from, int to) => prefix[t][to] - prefix[t][from];
                var best = SuccessiveHalving.Exhaustive.Pick(candidates, samples.Length, Sum);

                // The default halving for real, timed (or its share of the exhaustive time when skipped).
                clock.Restart();
                var real = realHalving
                    ? CbsSelection.PickStart(RandomizedMagnitude.Ranks(w), k, candidates, new SuccessiveHalving(), realLoss, new PairedStop(), out _)
                    : Replay(Schedules[0].Schedule, Schedules[0].Race, losses);
                double halving = realHalving
                    ? clock.Elapsed.TotalSeconds
                    : exhaustive * real.SampleEvaluations / ((double)candidates * samples.Length);

                for (int s = 0; s < Schedules.Length; s++)
                {
                    var pick = Replay(Schedules[s].Schedule, Schedules[s].Race, losses);
                    if (s == 0 && pick.Candidate != real.Candidate)
                        Console.WriteLine($"(seed {seed}, {sparsity}: the halving run picked {real.Candidate}, the recorded losses give {pick.Candidate}: batch composition changed a loss in its last digits)");
                    if (pick.Candidate == best.Candidate) agreements[s]++;
                    regrets[s].Add((prefix[pick.Candidate][samples.Length] - best.LossSum) / samples.Length);
                    evaluations[s] += pick.SampleEvaluations;
                }
                exhaustiveSeconds += exhaustive;
                halvingSeconds += halving;
                done++;
                var totals = prefix.Select(p => p[samples.Length]).Order().ToArray();
                Console.WriteLine($"| {seed} | {sparsity} | {best.Candidate} (loss {best.LossSum / samples.Length:G5}, next best +{(totals[1] - totals[0]) / samples.Length:G2}) | {real.Candidate} | " +
                    $"{(real.Candidate == best.Candidate ? "yes" : "no")} | {regrets[0][^1]:G3} | {exhaustive:F1} | {halving:F1} | {Measure.LoadAverage()} |");
            }
        }
        Console.WriteLine($"{done} (seed, sparsity) pairs; exhaustive {exhaustiveSeconds:F0} s in all, halving {halvingSeconds:F0} s " +
            $"({exhaustiveSeconds / Math.Max(halvingSeconds, 1e-9):F1}× less)");
        Console.WriteLine("| schedule | rungs | sample evaluations per pair (exhaustive) | same pick | mean regret | max regret |");
        Console.WriteLine("|---|---|---|---|---|---|");
        for (int s = 0; s < Schedules.Length; s++)
            Console.WriteLine($"| {Schedules[s].Name} | {string.Join("/", Schedules[s].Schedule.Rungs(Math.Min(lossSamples, train.Count)))} | " +
                $"{evaluations[s] / Math.Max(done, 1):N0} ({(long)candidates * Math.Min(lossSamples, train.Count):N0}) | {agreements[s]} of {done} | " +
                $"{(done > 0 ? regrets[s].Average() : 0):G3} | {(done > 0 ? regrets[s].Max() : 0):G3} |");
    }

    private static double[][] ReadLosses(string file, int candidates, int samples)
    {
        using var reader = new BinaryReader(File.OpenRead(file));
        return Enumerable.Range(0, candidates).Select(_ => Enumerable.Range(0, samples).Select(_ => reader.ReadDouble()).ToArray()).ToArray();
    }

    private static void WriteLosses(string file, double[][] losses)
    {
        string partial = file + ".partial";
        using (var writer = new BinaryWriter(File.Create(partial)))
            foreach (var row in losses) foreach (double l in row) writer.Write(l);
        File.Move(partial, file, overwrite: true);
    }

    private static int Env(string name, int fallback) => int.TryParse(Environment.GetEnvironmentVariable(name), out int v) ? v : fallback;

}
