using System.Text;
using Surgeon.Build;
using TorchSharp;

namespace Surgeon.Tests.Build;

public class ElfWeakVersionTests
{
    private const string Version = "GLIBCXX_3.4.32";

    [Fact]
    public void MarksOnlyTheNamedRequirementWeak_OnAHandBuiltElf()
    {
        string path = Path.Combine(Path.GetTempPath(), $"elf-{Guid.NewGuid():N}.so");
        File.WriteAllBytes(path, MinimalElf.Build(("libstdc++.so.6", ["GLIBCXX_3.4", Version, "CXXABI_1.3"]), ("libc.so.6", ["GLIBC_2.2.5"])));
        try
        {
            var before = ElfWeakVersion.ReadRequirements(File.ReadAllBytes(path));
            Assert.Equal(4, before.Count);
            Assert.All(before, r => Assert.False(r.IsWeak));

            Assert.True(ElfWeakVersion.MarkWeak(path, Version));
            var after = ElfWeakVersion.ReadRequirements(File.ReadAllBytes(path));
            Assert.True(after.Single(r => r.Version == Version).IsWeak);
            Assert.Equal("libstdc++.so.6", after.Single(r => r.Version == Version).File);
            Assert.All(after.Where(r => r.Version != Version), r => Assert.False(r.IsWeak));

            // Idempotent: a second pass changes nothing.
            byte[] once = File.ReadAllBytes(path);
            Assert.False(ElfWeakVersion.MarkWeak(path, Version));
            Assert.Equal(once, File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void RejectsFilesThatAreNotElf()
    {
        Assert.Throws<InvalidDataException>(() => ElfWeakVersion.ReadRequirements(Encoding.ASCII.GetBytes("not an elf file at all, just text....................................")));
    }

    [Fact]
    public void LibraryDefinesVersion_MatchesWholeNamesOnly()
    {
        string path = Path.Combine(Path.GetTempPath(), $"lib-{Guid.NewGuid():N}.so");
        File.WriteAllBytes(path, Encoding.ASCII.GetBytes("\0GLIBCXX_3.4.3\0GLIBCXX_3.4.30\0"));
        try
        {
            Assert.True(ElfWeakVersion.LibraryDefinesVersion(path, "GLIBCXX_3.4.30"));
            Assert.False(ElfWeakVersion.LibraryDefinesVersion(path, "GLIBCXX_3.4.32"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void TheRealTorchSharpLibrary_CanBePatched()
    {
        string? original = FindNuGetTorchSharpNative();
        Assert.True(original is not null, "libLibTorchSharp.so not found in the NuGet package folder");
        var requirements = ElfWeakVersion.ReadRequirements(File.ReadAllBytes(original!));
        Assert.Contains(requirements, r => r.Version == Version && r.File.StartsWith("libstdc++", StringComparison.Ordinal));

        string copy = Path.Combine(Path.GetTempPath(), $"torchsharp-{Guid.NewGuid():N}.so");
        File.Copy(original!, copy);
        try
        {
            bool alreadyWeak = requirements.Single(r => r.Version == Version).IsWeak;
            Assert.Equal(!alreadyWeak, ElfWeakVersion.MarkWeak(copy, Version));
            Assert.True(ElfWeakVersion.ReadRequirements(File.ReadAllBytes(copy)).Single(r => r.Version == Version).IsWeak);
            Assert.Equal(new FileInfo(original!).Length, new FileInfo(copy).Length);
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void TheBuildOutputCopy_IsPatchedWhereNeeded_AndTorchSharpRuns()
    {
        var copies = Directory.GetFiles(AppContext.BaseDirectory, "libLibTorchSharp.so", SearchOption.AllDirectories);
        Assert.NotEmpty(copies);
        string? libstdcxx = ElfWeakVersion.FindSystemLibStdCxx();
        bool systemHasIt = libstdcxx is not null && ElfWeakVersion.LibraryDefinesVersion(libstdcxx, Version);
        foreach (var copy in copies)
        {
            var req = ElfWeakVersion.ReadRequirements(File.ReadAllBytes(copy)).Single(r => r.Version == Version);
            if (!systemHasIt)
                Assert.True(req.IsWeak, $"{copy} was not patched although {libstdcxx} lacks {Version}");
        }
        using var t = torch.arange(6, dtype: torch.float32).reshape(2, 3);
        using var s = t.matmul(t.T);
        Assert.Equal(new float[] { 5, 14, 14, 50 }, s.data<float>().ToArray());
    }

    private static string? FindNuGetTorchSharpNative()
    {
        string root = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
            ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        string path = Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        return File.Exists(path) ? path : null;
    }
}

/// <summary>Builds a tiny ELF64 file with just a .dynstr and a .gnu.version_r section, for the patcher's tests.</summary>
internal static class MinimalElf
{
    public static byte[] Build(params (string File, string[] Versions)[] needs)
    {
        var strtab = new List<byte> { 0 };
        int Add(string s) { int o = strtab.Count; strtab.AddRange(Encoding.ASCII.GetBytes(s)); strtab.Add(0); return o; }
        var verneed = new List<byte>();
        for (int n = 0; n < needs.Length; n++)
        {
            var (file, versions) = needs[n];
            int fileName = Add(file);
            int auxStart = 16;
            int entrySize = 16 + 16 * versions.Length;
            verneed.AddRange(U16(1)); verneed.AddRange(U16((ushort)versions.Length)); verneed.AddRange(U32((uint)fileName));
            verneed.AddRange(U32((uint)auxStart)); verneed.AddRange(U32(n == needs.Length - 1 ? 0u : (uint)entrySize));
            for (int a = 0; a < versions.Length; a++)
            {
                int name = Add(versions[a]);
                verneed.AddRange(U32(0x1234)); verneed.AddRange(U16(0)); verneed.AddRange(U16((ushort)(2 + a)));
                verneed.AddRange(U32((uint)name)); verneed.AddRange(U32(a == versions.Length - 1 ? 0u : 16u));
            }
        }
        long strOff = 64, verOff = strOff + strtab.Count, shOff = verOff + verneed.Count;
        var elf = new byte[shOff + 3 * 64];
        elf[0] = 0x7f; elf[1] = (byte)'E'; elf[2] = (byte)'L'; elf[3] = (byte)'F'; elf[4] = 2; elf[5] = 1; elf[6] = 1;
        Put(elf, 0x28, BitConverter.GetBytes(shOff));
        Put(elf, 0x3A, U16(64)); Put(elf, 0x3C, U16(3));
        Put(elf, strOff, strtab.ToArray());
        Put(elf, verOff, verneed.ToArray());
        // Section 1: .dynstr (SHT_STRTAB = 3); section 2: .gnu.version_r, linked to section 1, sh_info = entries.
        Section(elf, shOff + 64, 3, strOff, strtab.Count, 0, 0);
        Section(elf, shOff + 128, 0x6ffffffe, verOff, verneed.Count, 1, (uint)needs.Length);
        return elf;
    }

    private static void Section(byte[] elf, long at, uint type, long offset, long size, uint link, uint info)
    {
        Put(elf, at + 4, U32(type));
        Put(elf, at + 0x18, BitConverter.GetBytes(offset));
        Put(elf, at + 0x20, BitConverter.GetBytes(size));
        Put(elf, at + 0x28, U32(link));
        Put(elf, at + 0x2C, U32(info));
    }

    private static void Put(byte[] dst, long at, byte[] src) => Array.Copy(src, 0, dst, at, src.Length);
    private static byte[] U16(ushort v) => BitConverter.GetBytes(v);
    private static byte[] U32(uint v) => BitConverter.GetBytes(v);
}
