using Surgeon.Compression;
using Surgeon.Numerics;
using Surgeon.Data;
using Surgeon.Progress;
using Surgeon.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Surgeon.Curvature;

/// <summary>A diagonal block of the Fisher: the weights [Offset, Offset + Length) of the flat vector.</summary>
internal sealed record FisherBlock(long Offset, long Length)
{
    public long End => Offset + Length;
}

/// <summary>
/// The empirical Fisher F = GᵀG/N of N per-sample gradients (the rows of G, N×d), taken block-diagonal (entries across
/// blocks are 0), and its damped inverse F_λ⁻¹ = (λI + F)⁻¹, without ever forming a d×d matrix: F·v is Gᵀ(Gv)/N; a block
/// with more weights than samples is inverted by Woodbury, F_λ⁻¹ = (1/λ)(I − G_bᵀ(NλI + G_bG_bᵀ)⁻¹G_b), through one
/// N×N Cholesky factorisation; a block with at most N weights by a Cholesky factorisation of λI + G_bᵀG_b/N.
/// </summary>
/// <remarks>
/// Precision: G is kept in its own dtype (float32 normally; float64 is accepted too, for reference-accuracy work), and
/// F·v, diag(F) and entries are computed in that dtype. The Gram matrix of a block is formed in G's dtype (a float32
/// GEMM is twice as fast as float64 and the relative error of its entries, ~1e-7·√d, is far below the damping), then
/// promoted to float64 for the factorisation and the solves, which are the ill-conditioned part; results are
/// returned in G's dtype. Factorisations are computed lazily, once per block, and cached until <see cref="Dispose"/>.
/// The Fisher owns <see cref="G"/> and disposes it.
/// </remarks>
internal sealed class EmpiricalFisher : IDisposable
{
    /// <summary>Columns processed at a time when a computation needs an N×columns float64 work matrix.</summary>
    private const long ColumnChunk = 4096;

    private readonly Tensor?[] factors;   // per block: float64 lower Cholesky factor (N×N Woodbury or L×L dense)
    private Tensor? inverseDiagonal;
    private bool disposed;

    /// <param name="g">Per-sample gradients, N×d (float32, or float64), rows are samples. The Fisher takes ownership.</param>
    /// <param name="lambda">Dampening λ &gt; 0.</param>
    /// <param name="blocks">Blocks that tile [0, d) contiguously, in order (see <see cref="MakeBlocks"/>).</param>
    public EmpiricalFisher(Tensor g, double lambda, IReadOnlyList<FisherBlock> blocks)
    {
        ArgumentNullException.ThrowIfNull(g);
        ArgumentNullException.ThrowIfNull(blocks);
        if (g.dim() != 2)
            throw new ArgumentException($"per-sample gradients must be a 2-D N×d tensor, got [{string.Join(", ", g.shape)}]", nameof(g));
        if (g.dtype != ScalarType.Float32 && g.dtype != ScalarType.Float64)
            throw new ArgumentException($"per-sample gradients must be float32 (or float64), got {g.dtype}", nameof(g));
        if (g.shape[0] < 1 || g.shape[1] < 1)
            throw new ArgumentException($"per-sample gradients are empty: [{string.Join(", ", g.shape)}]", nameof(g));
        if (!(lambda > 0) || double.IsInfinity(lambda))
            throw new ArgumentOutOfRangeException(nameof(lambda), lambda, "the dampening λ must be a positive finite number");
        long d = g.shape[1];
        ValidateBlocks(blocks, d);
        G = g.DetachFromDisposeScope();
        N = checked((int)g.shape[0]);
        D = d;
        Lambda = lambda;
        Blocks = blocks.ToArray();
        factors = new Tensor?[Blocks.Count];
    }

    public Tensor G { get; }

    /// <summary>Rows per diagonal block of the in-place factorisations (<see cref="DampedCholesky.FactorInPlace"/>) of
    /// this Fisher's blocks and of its kept-set systems; tests set a small one to run the blocked path on small matrices.</summary>
    public int FactorBlock { get; init; } = DampedCholesky.InPlaceBlock;

    /// <summary>Rows per product when a block's Gram matrix is formed (<see cref="Gram"/>); 0 = by size (32 MiB products).
    /// Tests set a small one to run several row blocks on small matrices.</summary>
    public int GramRows { get; init; }
    public int N { get; }
    public long D { get; }
    public double Lambda { get; }
    public IReadOnlyList<FisherBlock> Blocks { get; }

    private static void ValidateBlocks(IReadOnlyList<FisherBlock> blocks, long d)
    {
        if (blocks.Count == 0)
            throw new ArgumentException("no Fisher blocks given", nameof(blocks));
        long next = 0;
        foreach (var b in blocks)
        {
            if (b.Offset != next || b.Length <= 0)
                throw new ArgumentException(
                    $"Fisher blocks must tile [0, {d}) contiguously: block ({b.Offset}, {b.Length}) after position {next}", nameof(blocks));
            next = b.End;
        }
        if (next != d)
            throw new ArgumentException($"Fisher blocks cover [0, {next}) but there are {d} weights", nameof(blocks));
    }

    /// <summary>
    /// Block structure: 0 = one block for the whole model; -1 = one block per layer (prunable parameter);
    /// B &gt; 0 = contiguous chunks of B weights over the flat vector, ignoring layer boundaries (as WoodFisher's code
    /// does), the last chunk shorter.
    /// </summary>
    public static IReadOnlyList<FisherBlock> MakeBlocks(IReadOnlyList<PrunableParameter> parameters, int blockSize)
    {
        long d = PrunableParameters.TotalCount(parameters);
        if (d <= 0)
            throw new ArgumentException("no prunable weights", nameof(parameters));
        var blocks = new List<FisherBlock>();
        switch (blockSize)
        {
            case 0:
                blocks.Add(new FisherBlock(0, d));
                break;
            case -1:
                long offset = 0;
                foreach (var p in parameters)
                {
                    blocks.Add(new FisherBlock(offset, p.Count));
                    offset += p.Count;
                }
                break;
            case > 0:
                for (long start = 0; start < d; start += blockSize)
                    blocks.Add(new FisherBlock(start, Math.Min(blockSize, d - start)));
                break;
            default:
                throw new SurgeonException(
                    $"Fisher block size {blockSize} is invalid: use 0 (whole model), -1 (one block per layer) or a positive size");
        }
        return blocks;
    }

    /// <summary>
    /// Estimates the peak memory in bytes of a Fisher of <paramref name="n"/> samples over <paramref name="d"/>
    /// weights: G in float32, one cached float64 factor per block (min(N, L)² entries), the transient Gram matrix of the
    /// largest block (float32 + float64 copies) and the N×4,096 float64 work matrix of <see cref="InverseDiagonal"/>.
    /// </summary>
    public static long EstimateBytes(int n, long d, IReadOnlyList<FisherBlock> blocks)
    {
        double bytes = 4.0 * n * d;
        double largest = 0;
        foreach (var b in blocks)
        {
            double m = Math.Min(n, b.Length);
            bytes += 8.0 * m * m;
            largest = Math.Max(largest, m);
        }
        bytes += 12.0 * largest * largest + 8.0 * n * Math.Min(ColumnChunk, d) + 8.0 * d * 4;
        return bytes >= long.MaxValue ? long.MaxValue : (long)bytes;
    }

    /// <summary>
    /// Computes the Fisher from <paramref name="samples"/> per-sample gradients of <paramref name="model"/> on the
    /// training data, each the mean gradient of <paramref name="examplesPerSample"/> examples, drawn with
    /// <see cref="ImageDataset.RandomSubset"/> (seeded); consecutive examples of the subset form one sample.
    /// </summary>
    public static EmpiricalFisher FromData(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        ImageDataset data, int samples, int examplesPerSample, int seed, double lambda, int blockSize, Device device,
        IProgressReporter progress)
    {
        var blocks = CheckRequest(parameters, data, samples, examplesPerSample, lambda, blockSize);
        return new EmpiricalFisher(GradientMatrix(model, parameters, data, samples, examplesPerSample, seed, device, progress), lambda, blocks);
    }

    /// <summary>
    /// G, the N×d float32 per-sample gradients of the Fisher of <see cref="FromData"/>: N = <paramref name="samples"/>
    /// rows, each the mean gradient of <paramref name="examplesPerSample"/> training examples drawn with
    /// <paramref name="seed"/>. The caller owns it (a Fisher file stores it; <see cref="FromData"/> gives it to the Fisher).
    /// </summary>
    public static Tensor GradientMatrix(nn.Module<Tensor, Tensor> model, IReadOnlyList<PrunableParameter> parameters,
        ImageDataset data, int samples, int examplesPerSample, int seed, Device device, IProgressReporter progress)
    {
        long d = PrunableParameters.TotalCount(parameters);
        long needed = (long)samples * examplesPerSample;
        var indices = data.RandomSubset((int)needed, seed);
        int m = examplesPerSample;
        int batchExamples = GradientBatchExamples(d, m, device.type == DeviceType.CPU && EvalForward.HasConvolutions(model));
        int batches = (int)((needed + batchExamples - 1) / batchExamples);
        var g = empty([samples, d], ScalarType.Float32, device);
        try
        {
            using var task = progress.Start("per-sample gradients", batches);
            for (int start = 0; start < needed; start += batchExamples)
            {
                using var scope = NewDisposeScope();
                int count = (int)Math.Min(batchExamples, needed - start);
                var (x, y) = data.Batch(indices.AsSpan(start, count), device);
                if (m == 1 && x.device.type == g.device.type)
                {
                    // The batch's rows of G are written in place (Linear layers: each element once).
                    PerSampleGradients.ComputeInto(model, parameters, x, y, g.narrow(0, start, count));
                }
                else
                {
                    var rows = PerSampleGradients.Compute(model, parameters, x, y);
                    if (rows.device.type != g.device.type) rows = rows.to(g.device);
                    if (m > 1) rows = rows.reshape(count / m, m, d).mean([1]);
                    g.narrow(0, start / m, count / m).copy_(rows);
                }
                task.Advance();
            }
            return g;
        }
        catch
        {
            g.Dispose();
            throw;
        }
    }

    /// <summary>Bytes of per-sample gradient rows one batch may hold (the rows are B×d float32).</summary>
    public const long GradientBatchBytes = 256L << 20;

    /// <summary>Most examples per batch of per-sample gradients for a model with convolutions on the CPU. Why: libtorch's
    /// convolution (oneDNN off) unfolds the whole batch's input, so large batches run memory-bound; bench
    /// <c>cbs-phase-profile</c> (SURGEON_BENCH_PART=gradients, ResNet-20, 256 examples, one thread) took 12.6 CPU-s in one
    /// batch of 256, 2.9 in batches of 64, 2.5 in batches of 32 or 16, the rows identical to the bit.</summary>
    public const int ConvGradientBatch = 32;

    /// <summary>
    /// Examples per batch of per-sample gradients: 256, or fewer where 256 rows of d weights would exceed
    /// <see cref="GradientBatchBytes"/> (MobileNet-V1's 3.2M weights: 20), at most <see cref="ConvGradientBatch"/> for a
    /// model with <paramref name="convolutions"/> on the CPU, in whole groups of m.
    /// </summary>
    public static int GradientBatchExamples(long d, int m, bool convolutions = false)
    {
        long fit = Math.Max(1, GradientBatchBytes / (4 * d));
        int examples = (int)Math.Min(convolutions ? ConvGradientBatch : 256, fit);
        return Math.Max(m, examples / m * m);
    }

    /// <summary>
    /// The checks of <see cref="FromData"/> that need no gradients (sample counts against the data, λ, memory), so a
    /// sweep can fail on them before its first point; returns the blocks.
    /// </summary>
    public static IReadOnlyList<FisherBlock> CheckRequest(IReadOnlyList<PrunableParameter> parameters, ImageDataset data,
        int samples, int examplesPerSample, double lambda, int blockSize)
    {
        if (samples < 1)
            throw new SurgeonException($"the Fisher needs at least 1 sample, got {samples}");
        if (examplesPerSample < 1)
            throw new SurgeonException($"examples per Fisher sample must be at least 1, got {examplesPerSample}");
        if (!(lambda > 0))
            throw new SurgeonException($"the Fisher dampening λ must be positive, got {lambda}");
        long needed = (long)samples * examplesPerSample;
        if (needed > data.Count)
        {
            long fit = data.Count / examplesPerSample;
            throw new SurgeonException(
                $"the Fisher needs {samples} samples × {examplesPerSample} examples = {needed} training examples but dataset " +
                $"'{data.Name}' has only {data.Count}; use at most {fit} samples" +
                (examplesPerSample > 1 ? $" or fewer examples per sample" : "") + " (or a larger dataset)");
        }
        var blocks = MakeBlocks(parameters, blockSize);
        CheckMemory(samples, PrunableParameters.TotalCount(parameters), blocks, parameters);
        return blocks;
    }

    private static void CheckMemory(int n, long d, IReadOnlyList<FisherBlock> blocks, IReadOnlyList<PrunableParameter> parameters)
    {
        long available = AvailableBytes();
        long budget = (long)(available * 0.85) - (256L << 20);
        long needed = EstimateBytes(n, d, blocks);
        if (needed <= budget) return;
        // Largest sample count that fits with these blocks.
        int lo = 0, hi = n;
        while (lo < hi)
        {
            int mid = lo + (hi - lo + 1) / 2;
            if (EstimateBytes(mid, d, blocks) <= budget) lo = mid; else hi = mid - 1;
        }
        string advice = lo > 0 ? $"use at most {lo} samples" : "no sample count fits";
        foreach (int size in new[] { 16384, 8192, 4096, 2048, 1024, 512, 256, 128 })
            if (EstimateBytes(n, d, MakeBlocks(parameters, size)) <= budget)
            {
                advice += $", or keep {n} samples with a Fisher block size of {size}";
                break;
            }
        throw new SurgeonException(
            $"the empirical Fisher of {n} samples × {d} weights needs about {needed / 1e9:F2} GB but only " +
            $"{budget / 1e9:F2} GB of memory is available; {advice}");
    }

    /// <summary>MemAvailable from /proc/meminfo where there is one, otherwise what the GC reports.</summary>
    internal static long AvailableBytes()
    {
        long gc = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        try
        {
            const string meminfo = "/proc/meminfo";
            if (File.Exists(meminfo))
                foreach (var line in File.ReadLines(meminfo))
                    if (line.StartsWith("MemAvailable:", StringComparison.Ordinal))
                    {
                        long kb = long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
                        return Math.Min(kb * 1024, gc > 0 ? gc : long.MaxValue);
                    }
        }
        catch (IOException) { }
        catch (FormatException) { }
        return gc;
    }

    /// <summary>The columns of G that belong to block b (a view, N×L).</summary>
    public Tensor Columns(FisherBlock b) => G.narrow(1, b.Offset, b.Length);

    /// <summary>Checks a vector (d) or a matrix of column vectors (d×k) and brings it to G's dtype and device.</summary>
    private Tensor Prepare(Tensor v, string name)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if ((v.dim() != 1 && v.dim() != 2) || v.shape[0] != D)
            throw new ArgumentException($"{name} must have shape [{D}] or [{D}, k], got [{string.Join(", ", v.shape)}]", name);
        return v.to(G.dtype, G.device);
    }

    /// <summary>F·v (block-diagonal), as Gᵀ(Gv)/N per block. <paramref name="v"/> is [d] or [d, k].</summary>
    public Tensor Times(Tensor v)
    {
        using var scope = NewDisposeScope();
        var x = Prepare(v, nameof(v));
        var result = empty_like(x);
        foreach (var b in Blocks)
        {
            var gb = Columns(b);
            var vb = x.narrow(0, b.Offset, b.Length);
            var gv = gb.matmul(vb);                                     // [N] or [N, k]
            result.narrow(0, b.Offset, b.Length).copy_(gb.t().matmul(gv).div_(HeldScalars.Of(N)));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>diag(F) = Σ_n G[n,i]² / N.</summary>
    public Tensor Diagonal()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        using var scope = NewDisposeScope();
        var result = empty([D], G.dtype, G.device);
        for (long c = 0; c < D; c += ColumnChunk)
        {
            using var inner = NewDisposeScope();
            long len = Math.Min(ColumnChunk, D - c);
            var gc = G.narrow(1, c, len);
            result.narrow(0, c, len).copy_(gc.Squared().sum(dim: 0).div_(HeldScalars.Of(N)));
        }
        return result.MoveToOuterDisposeScope();
    }

    /// <summary>F_ij: G[:,i]·G[:,j]/N within a block, 0 across blocks.</summary>
    public double Entry(long i, long j)
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (i < 0 || i >= D) throw new ArgumentOutOfRangeException(nameof(i), i, $"index outside 0..{D - 1}");
        if (j < 0 || j >= D) throw new ArgumentOutOfRangeException(nameof(j), j, $"index outside 0..{D - 1}");
        if (BlockIndexOf(i) != BlockIndexOf(j)) return 0;
        using var scope = NewDisposeScope();
        return G.select(1, i).to(ScalarType.Float64).dot(G.select(1, j).to(ScalarType.Float64)).item<double>() / N;
    }

    /// <summary>The index in <see cref="Blocks"/> of the block that holds weight i.</summary>
    public int BlockIndexOf(long i)
    {
        int lo = 0, hi = Blocks.Count - 1;
        while (lo < hi)
        {
            int mid = (lo + hi + 1) / 2;
            if (Blocks[mid].Offset <= i) lo = mid; else hi = mid - 1;
        }
        return lo;
    }

    private bool IsWoodbury(FisherBlock b) => b.Length > N;

    /// <summary>
    /// The cached float64 lower Cholesky factor of block b: of NλI + G_bG_bᵀ (N×N, Woodbury) when the block has more
    /// weights than samples, otherwise of λI + G_bᵀG_b/N (L×L).
    /// </summary>
    private Tensor Factor(int index)
    {
        if (factors[index] is { } cached) return cached;
        using var scope = NewDisposeScope();
        var b = Blocks[index];
        var gb = Columns(b);
        // The Gram matrix goes straight into the float64 system and the factor overwrites it: one m×m float64 matrix
        // beside G (at N = 8,000, 488 MiB, where the float32 Gram, the system and a separate factor took 1.2 GiB).
        var matrix = Gram(IsWoodbury(b) ? gb : gb.t(), GramRows);
        if (IsWoodbury(b))
        {
            matrix.diagonal().add_(HeldScalars.Of(N * Lambda), HeldScalars.One);
        }
        else
        {
            matrix.div_(HeldScalars.Of(N));
            matrix.diagonal().add_(HeldScalars.Of(Lambda), HeldScalars.One);
        }
        DampedCholesky.FactorInPlace(matrix, Lambda, N, IsWoodbury(b), $"block at weights {b.Offset}..{b.End - 1}", FactorBlock);
        factors[index] = matrix.DetachFromDisposeScope();
        return factors[index]!;
    }

    /// <summary>
    /// X·Xᵀ in float64 (m×m for X m×k, in G's dtype a row block at a time): each block of at most
    /// <paramref name="rows"/> rows (0: as many as make a 32 MiB product) is multiplied with the rows up to its own, in
    /// G's dtype as one GEMM would be (see the remarks), promoted into the system, and the upper triangle is then copied
    /// from the lower, so the matrix is exactly symmetric. Why: the work beside the system is one row block, not an m×m float32 Gram matrix, and only the
    /// lower triangle is multiplied (about half the flops of the full product).
    /// </summary>
    internal static Tensor Gram(Tensor x, int rows = 0)
    {
        long m = x.shape[0];
        using var scope = NewDisposeScope();
        var gram = empty([m, m], ScalarType.Float64, x.device);
        long step = rows > 0 ? rows : Math.Max(1, (32L << 20) / (x.element_size() * m));
        for (long r = 0; r < m; r += step)
        {
            using var inner = NewDisposeScope();
            long len = Math.Min(step, m - r);
            gram.narrow(0, r, len).narrow(1, 0, r + len).copy_(x.narrow(0, r, len).matmul(x.narrow(0, 0, r + len).t()));
        }
        for (long r = 0; r < m; r += step)
        {
            using var inner = NewDisposeScope();
            long len = Math.Min(step, m - r), rest = m - r - len;
            var diagonal = gram.narrow(0, r, len).narrow(1, r, len); // its product is not exactly symmetric: mirror it too
            var strictlyLower = diagonal.tril(-1);
            diagonal.copy_(diagonal.tril().add_(strictlyLower.t(), HeldScalars.One));
            if (rest > 0) gram.narrow(0, r, len).narrow(1, r + len, rest).copy_(gram.narrow(0, r + len, rest).narrow(1, r, len).t());
        }
        return gram.MoveToOuterDisposeScope();
    }

    /// <summary>F_λ⁻¹·v per block. <paramref name="v"/> is [d] or [d, k]; the result has G's dtype.</summary>
    public Tensor InverseTimes(Tensor v)
    {
        var x = Prepare(v, nameof(v));
        using var scope = NewDisposeScope();
        var x64 = x.to(ScalarType.Float64);
        bool vector = x64.dim() == 1;
        if (vector) x64 = x64.unsqueeze(1);
        var result = empty_like(x64);
        for (int i = 0; i < Blocks.Count; i++)
        {
            using var inner = NewDisposeScope();
            var b = Blocks[i];
            var l = Factor(i);
            var vb = x64.narrow(0, b.Offset, b.Length);
            Tensor rb;
            if (IsWoodbury(b))
            {
                // Column chunks keep the float64 work matrix at one chunk (64 MiB) instead of N×L.
                long chunk = KeptColumns.ChunkColumns(N);
                var gv = zeros([N, vb.shape[1]], ScalarType.Float64, vb.device);
                for (long c = 0; c < b.Length; c += chunk)
                {
                    using var chunkScope = NewDisposeScope();
                    long len = Math.Min(chunk, b.Length - c);
                    gv.add_(G.narrow(1, b.Offset + c, len).to(ScalarType.Float64).matmul(vb.narrow(0, c, len)), HeldScalars.One);
                }
                var z = DampedCholesky.Solve(l, gv);                               // (NλI + GGᵀ)⁻¹ G v
                rb = vb.clone();
                for (long c = 0; c < b.Length; c += chunk)
                {
                    using var chunkScope = NewDisposeScope();
                    long len = Math.Min(chunk, b.Length - c);
                    rb.narrow(0, c, len).add_(G.narrow(1, b.Offset + c, len).to(ScalarType.Float64).t().matmul(z), HeldScalars.Of(-1));
                }
                rb.div_(HeldScalars.Of(Lambda));
            }
            else
            {
                rb = DampedCholesky.Solve(l, vb);
            }
            result.narrow(0, b.Offset, b.Length).copy_(rb);
        }
        if (vector) result = result.squeeze(1);
        return result.to(G.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>diag(F_λ⁻¹) (computed once and cached; a copy is returned).</summary>
    public Tensor InverseDiagonal()
    {
        ObjectDisposedException.ThrowIf(disposed, this);
        if (inverseDiagonal is null)
        {
            using var scope = NewDisposeScope();
            var result = empty([D], ScalarType.Float64, G.device);
            for (int i = 0; i < Blocks.Count; i++)
            {
                var b = Blocks[i];
                var l = Factor(i);
                if (IsWoodbury(b))
                {
                    // [(NλI + GGᵀ)⁻¹]: diag_j(Gᵀ K⁻¹ G) = ‖L⁻¹ G[:,j]‖², column chunk by column chunk (64 MiB of float64
                    // columns, their solve and its square: 192 MiB beside the factor at any N).
                    long chunk = KeptColumns.ChunkColumns(N);
                    for (long c = 0; c < b.Length; c += chunk)
                    {
                        using var inner = NewDisposeScope();
                        long len = Math.Min(chunk, b.Length - c);
                        var gc = G.narrow(1, b.Offset + c, len).to(ScalarType.Float64);
                        var w = linalg.solve_triangular(l, gc, upper: false);
                        gc.Dispose();
                        result.narrow(0, b.Offset + c, len).copy_(w.Squared().sum(dim: 0).neg_().add_(HeldScalars.One, HeldScalars.One).div_(HeldScalars.Of(Lambda)));
                    }
                }
                else
                {
                    using var inner = NewDisposeScope();
                    result.narrow(0, b.Offset, b.Length).copy_(cholesky_inverse(l).diagonal());
                }
            }
            inverseDiagonal = result.to(G.dtype).DetachFromDisposeScope();
        }
        return inverseDiagonal.clone();
    }

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        foreach (var f in factors) f?.Dispose();
        Array.Clear(factors);
        inverseDiagonal?.Dispose();
        inverseDiagonal = null;
        G.Dispose();
    }
}
