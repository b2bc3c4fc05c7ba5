// Marks one symbol-version requirement of an ELF shared library as weak (VER_FLG_WEAK in .gnu.version_r),
// so the dynamic loader no longer refuses the library when the system lacks that version.
//
// Why: TorchSharp 0.107's libLibTorchSharp.so was linked by GCC 13 and asks for GLIBCXX_3.4.32, which Debian 12's
// libstdc++ (GCC 12) lacks. The only symbol behind that version, std::ios_base_library_init, is referenced by a bare
// .globl and never relocated, so a weak requirement is safe. This file is compiled twice: into the MSBuild inline
// task of build/Surgeon.targets (imported by Directory.Build.targets, and shipped in the Surgeon package as
// buildTransitive/Surgeon.targets; it patches every copy in the build output) and into the tests.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace Surgeon.Build
{
    public static class ElfWeakVersion
    {
        public const ushort VerFlagWeak = 0x2;
        private const uint ShtGnuVerneed = 0x6ffffffe;

        /// <summary>One version requirement (Vernaux) found in .gnu.version_r.</summary>
        public readonly struct Requirement
        {
            public Requirement(string file, string version, ushort flags, long flagsOffset)
            {
                File = file; Version = version; Flags = flags; FlagsOffset = flagsOffset;
            }
            public string File { get; }
            public string Version { get; }
            public ushort Flags { get; }
            public long FlagsOffset { get; }
            public bool IsWeak => (Flags & VerFlagWeak) != 0;
        }

        /// <summary>Reads every version requirement of a little-endian ELF64 file.</summary>
        public static List<Requirement> ReadRequirements(byte[] elf)
        {
            if (elf.Length < 64 || elf[0] != 0x7f || elf[1] != (byte)'E' || elf[2] != (byte)'L' || elf[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException("only little-endian ELF64 files are supported");
            long shoff = (long)ReadU64(elf, 0x28);
            int shentsize = ReadU16(elf, 0x3A);
            int shnum = ReadU16(elf, 0x3C);
            if (shoff <= 0 || shentsize < 64 || shoff + (long)shnum * shentsize > elf.Length)
                throw new InvalidDataException("ELF section header table lies outside the file");

            var result = new List<Requirement>();
            for (int s = 0; s < shnum; s++)
            {
                long sh = shoff + (long)s * shentsize;
                if (ReadU32(elf, sh + 4) != ShtGnuVerneed)
                    continue;
                long offset = (long)ReadU64(elf, sh + 0x18);
                long size = (long)ReadU64(elf, sh + 0x20);
                int link = (int)ReadU32(elf, sh + 0x28);
                uint count = ReadU32(elf, sh + 0x2C); // sh_info: number of Verneed entries
                if (link >= shnum || offset < 0 || offset + size > elf.Length)
                    throw new InvalidDataException(".gnu.version_r lies outside the file");
                long strOffset = (long)ReadU64(elf, shoff + (long)link * shentsize + 0x18);

                long need = offset;
                for (uint n = 0; n < count; n++)
                {
                    int auxCount = ReadU16(elf, need + 2);
                    string file = ReadString(elf, strOffset + ReadU32(elf, need + 4));
                    long aux = need + ReadU32(elf, need + 8);
                    for (int a = 0; a < auxCount; a++)
                    {
                        ushort flags = ReadU16(elf, aux + 4);
                        string version = ReadString(elf, strOffset + ReadU32(elf, aux + 8));
                        result.Add(new Requirement(file, version, flags, aux + 4));
                        uint nextAux = ReadU32(elf, aux + 12);
                        if (nextAux == 0) break;
                        aux += nextAux;
                    }
                    uint next = ReadU32(elf, need + 12);
                    if (next == 0) break;
                    need += next;
                }
            }
            return result;
        }

        /// <summary>
        /// Marks the requirement for <paramref name="version"/> weak. Returns true when the file was changed,
        /// false when it was already weak or never asked for that version. The file is replaced atomically.
        /// </summary>
        public static bool MarkWeak(string path, string version)
        {
            byte[] elf = File.ReadAllBytes(path);
            bool changed = false;
            foreach (var r in ReadRequirements(elf))
            {
                if (r.Version != version || r.IsWeak)
                    continue;
                ushort flags = (ushort)(r.Flags | VerFlagWeak);
                elf[r.FlagsOffset] = (byte)(flags & 0xff);
                elf[r.FlagsOffset + 1] = (byte)(flags >> 8);
                changed = true;
            }
            if (!changed)
                return false;
            string temp = path + ".weak-tmp";
            File.WriteAllBytes(temp, elf);
            // File.Replace renames over the target (atomic on one file system); this file also builds for netstandard2.0.
            File.Replace(temp, path, null);
            return true;
        }

        /// <summary>True when the shared library at <paramref name="libraryPath"/> defines the version name.</summary>
        public static bool LibraryDefinesVersion(string libraryPath, string version)
        {
            byte[] bytes = File.ReadAllBytes(libraryPath);
            byte[] needle = Encoding.ASCII.GetBytes(version + "\0");
            // Version names live NUL-terminated in .dynstr; require a NUL before too, so 3.4.3 does not match 3.4.32.
            for (int i = 1; i + needle.Length <= bytes.Length; i++)
            {
                if (bytes[i - 1] != 0 || bytes[i] != needle[0]) continue;
                int k = 1;
                while (k < needle.Length && bytes[i + k] == needle[k]) k++;
                if (k == needle.Length) return true;
            }
            return false;
        }

        /// <summary>The system libstdc++ the dynamic loader would pick, or null when none is found.</summary>
        public static string? FindSystemLibStdCxx()
        {
            string[] candidates =
            {
                "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
                "/lib/x86_64-linux-gnu/libstdc++.so.6",
                "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
                "/usr/lib64/libstdc++.so.6",
                "/usr/lib/libstdc++.so.6",
            };
            foreach (var c in candidates)
                if (File.Exists(c)) return c;
            return null;
        }

        private static ushort ReadU16(byte[] b, long o) { Check(b, o, 2); return (ushort)(b[o] | b[o + 1] << 8); }
        private static uint ReadU32(byte[] b, long o) { Check(b, o, 4); return (uint)(b[o] | b[o + 1] << 8 | b[o + 2] << 16 | b[o + 3] << 24); }
        private static ulong ReadU64(byte[] b, long o) => ReadU32(b, o) | (ulong)ReadU32(b, o + 4) << 32;

        private static void Check(byte[] b, long o, int n)
        {
            if (o < 0 || o + n > b.Length) throw new InvalidDataException("ELF structure points outside the file");
        }

        private static string ReadString(byte[] b, long o)
        {
            Check(b, o, 1);
            long end = o;
            while (end < b.Length && b[end] != 0) end++;
            return Encoding.ASCII.GetString(b, (int)o, (int)(end - o));
        }
    }

#if !SURGEON_NO_MSBUILD_TASK
    /// <summary>MSBuild task: patches every given library where the system libstdc++ lacks <see cref="Version"/>.</summary>
    public class MarkElfVersionWeak : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        [Microsoft.Build.Framework.Required]
        public string Version { get; set; } = "";

        public override bool Execute()
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux) || Libraries.Length == 0)
                return true;
            string? libstdcxx = ElfWeakVersion.FindSystemLibStdCxx();
            if (libstdcxx != null && ElfWeakVersion.LibraryDefinesVersion(libstdcxx, Version))
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, $"{libstdcxx} defines {Version}: nothing to patch");
                return true;
            }
            foreach (var item in Libraries)
            {
                string path = item.ItemSpec;
                if (ElfWeakVersion.MarkWeak(path, Version))
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High, $"Surgeon: marked {Version} weak in {path}");
            }
            return true;
        }
    }
#endif
}
