using Surgeon.Bench;

// Benchmarks print figures (times and ratios measured in the same run); they are not tests.
// Usage: dotnet run -c Release --project bench/Surgeon.Bench -- [name ...]   (no name = all but fuzz)
//        dotnet run -c Release --project bench/Surgeon.Bench -- fuzz [--seconds N] [--cases N] [--seed N]
if (args.Length > 0 && args[0].Equals("fuzz", StringComparison.OrdinalIgnoreCase))
{
    Console.WriteLine("== fuzz ==");
    return FuzzBench.Run(args[1..]);
}
if (args.Length > 0 && args[0] == HugePagesBench.ChildArgument) return HugePagesBench.Child(); // one side of huge-pages
var all = new Dictionary<string, Action>(StringComparer.OrdinalIgnoreCase)
{
    ["training"] = TrainingBench.Run,
    ["per-sample-grads"] = CurvatureBench.PerSampleGrads,
    ["woodbury"] = CurvatureBench.Woodbury,
    ["prune-wf"] = PruneBench.WoodFisher,
    ["prune-cbs"] = PruneBench.Cbs,
    ["cbs-u-vs-naive"] = CbsUpdateBench.Run,
    ["swap-search"] = SwapSearchBench.Run,
    ["soak"] = SoakBench.Run,
    ["scale"] = ScaleBench.Run,
    ["scale-mobilenet"] = ScaleBench.RunMobileNet,
    ["speedup"] = SpeedupBench.Run,
    ["quant"] = QuantBench.Run,
    ["prm"] = PrmBench.Run,
    ["obc"] = ObcBench.Run,
    ["kept-set-memory"] = KeptSetMemoryBench.Run,
    ["wf-memory"] = WoodFisherMemoryBench.Run,
    ["estimate-check"] = EstimateCheckBench.Run,
    ["chita-speed"] = ChitaSpeedBench.Run,
    ["cbs-start-agreement"] = CbsStartAgreementBench.Run,
    ["per-sample-write"] = PerSampleWriteBench.Run,
    ["cbs-phase-profile"] = CbsPhaseProfileBench.Run,
    ["heap-slack"] = HeapSlackBench.Run,
    ["huge-pages"] = HugePagesBench.Run,
};
var chosen = args.Length == 0 ? all.Keys.ToList() : args.ToList();
// As the command line does (libtorch's buffers reused, large ones on huge pages), except for the benches that measure it.
if (!chosen.Contains("heap-slack", StringComparer.OrdinalIgnoreCase) && !chosen.Contains("huge-pages", StringComparer.OrdinalIgnoreCase))
    Surgeon.Numerics.NativeHeap.Configure();
foreach (var name in chosen)
{
    if (!all.TryGetValue(name, out var run))
    {
        Console.Error.WriteLine($"unknown benchmark '{name}': known are {string.Join(", ", all.Keys)}");
        return 2;
    }
    Console.WriteLine($"== {name} ==");
    run();
}
return 0;
