using System.Security.Cryptography;
using ModelBuild.Diagnostics;
using ModelBuild.Torch.Native;

namespace ModelBuild.Torch.Tests.Native;

public sealed class ElfPatcherTests : IDisposable
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), "mb-elf-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_cache)) Directory.Delete(_cache, recursive: true);
    }

    private static string Original => TorchNativeLoader.FindNative("libLibTorchSharp.so")
        ?? throw new InvalidOperationException("libLibTorchSharp.so not found");

    private static IReadOnlySet<string> SystemGlibcxx =>
        ElfImage.Open(TorchNativeLoader.SystemLibStdCxx()!).VersionDefinitions();

    [Fact]
    public void Reads_the_version_needs_of_the_real_library()
    {
        var needs = ElfImage.Open(Original).VersionNeeds();
        Assert.Contains(needs, n => n.File == "libstdc++.so.6" && n.Version == "GLIBCXX_3.4.32");
        Assert.Contains(needs, n => n.File == "libc.so.6" && n.Version == "GLIBC_2.2.5");
        Assert.All(needs, n => Assert.False(n.IsWeak));
    }

    [Fact]
    public void Libstdcxx_definitions_are_read()
    {
        var defs = SystemGlibcxx;
        Assert.Contains("GLIBCXX_3.4", defs);
        Assert.Contains("CXXABI_1.3", defs);
    }

    [Fact]
    public void Only_the_marker_symbol_uses_GLIBCXX_3_4_32()
    {
        // Pretend the system lacks 3.4.32 (true on Debian 12) so the test means the same everywhere.
        var defs = SystemGlibcxx.Where(v => v != "GLIBCXX_3.4.32").ToHashSet();
        var gaps = ElfVersionPatcher.FindGaps(ElfImage.Open(Original), f => f == "libstdc++.so.6" ? defs : null);
        var gap = Assert.Single(gaps);
        Assert.Equal("GLIBCXX_3.4.32", gap.Need.Version);
        Assert.True(gap.Patchable, gap.Reason);
        Assert.Equal(["_ZSt21ios_base_library_initv"], gap.Symbols);
    }

    [Fact]
    public void A_version_real_code_uses_is_not_patchable()
    {
        var defs = SystemGlibcxx.Where(v => v is not "GLIBCXX_3.4.32" and not "GLIBCXX_3.4.30").ToHashSet();
        var gaps = ElfVersionPatcher.FindGaps(ElfImage.Open(Original), f => f == "libstdc++.so.6" ? defs : null);
        var gap = Assert.Single(gaps, g => g.Need.Version == "GLIBCXX_3.4.30");
        Assert.False(gap.Patchable);
        Assert.Contains("code uses", gap.Reason);

        var error = TorchNativeLoader.MissingVersions(Original, TorchNativeLoader.SystemLibStdCxx(), gaps);
        Assert.Equal(DiagnosticCodes.TorchRuntimeUnavailable, error.Diagnostic.Code);
        Assert.Contains("GLIBCXX_3.4.30 not found (required by libLibTorchSharp.so from libstdc++.so.6", error.Message);
        Assert.Contains("Remedy:", error.Message);
    }

    [Fact]
    public void Patched_copy_differs_by_one_bit_and_is_idempotent_and_leaves_the_original_alone()
    {
        var original = Original;
        var before = SHA256.HashData(File.ReadAllBytes(original));
        var need = ElfImage.Open(original).VersionNeeds().Single(n => n.Version == "GLIBCXX_3.4.32");

        var first = TorchNativeLoader.EnsurePatchedCopy(original, [need], _cache);
        var stamp = File.GetLastWriteTimeUtc(first);
        var second = TorchNativeLoader.EnsurePatchedCopy(original, [need], _cache);
        Assert.Equal(first, second);
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(second)); // reused, not rewritten

        Assert.Equal(before, SHA256.HashData(File.ReadAllBytes(original)));
        Assert.StartsWith(Path.Combine(_cache, Convert.ToHexStringLower(before)), first);
        var a = File.ReadAllBytes(original);
        var b = File.ReadAllBytes(first);
        var diffs = Enumerable.Range(0, a.Length).Where(i => a[i] != b[i]).ToList();
        Assert.Equal([need.FlagsFileOffset], diffs.Select(i => (long)i));
        Assert.Equal(ElfImage.VerFlagWeak, (ushort)(a[diffs[0]] ^ b[diffs[0]]));

        var patchedNeed = ElfImage.Open(first).VersionNeeds().Single(n => n.Version == "GLIBCXX_3.4.32");
        Assert.True(patchedNeed.IsWeak);
        var without = SystemGlibcxx.Where(v => v != "GLIBCXX_3.4.32").ToHashSet();
        Assert.Empty(ElfVersionPatcher.FindGaps(ElfImage.Open(first), f => f == "libstdc++.so.6" ? without : null));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(first)!, "*.tmp"));
    }

    /// <summary>Parallel builds (dotnet build -m) each start a tool process that may be the first to need the copy.</summary>
    [Fact]
    public void Concurrent_first_use_of_an_empty_cache_yields_one_good_copy()
    {
        var original = Original;
        var need = ElfImage.Open(original).VersionNeeds().Single(n => n.Version == "GLIBCXX_3.4.32");
        const int users = 6;
        using var start = new Barrier(users);
        var paths = new string[users];
        var threads = Enumerable.Range(0, users).Select(i => new Thread(() =>
        {
            start.SignalAndWait();
            paths[i] = TorchNativeLoader.EnsurePatchedCopy(original, [need], _cache);
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => t.Join());

        Assert.Single(paths.Distinct());
        var a = File.ReadAllBytes(original);
        var b = File.ReadAllBytes(paths[0]);
        Assert.Equal(a.Length, b.Length);
        Assert.Equal(1, Enumerable.Range(0, a.Length).Count(i => a[i] != b[i]));
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(paths[0])!, "*.tmp"));
    }

    [Fact]
    public void A_corrupted_cached_copy_is_replaced()
    {
        var original = Original;
        var need = ElfImage.Open(original).VersionNeeds().Single(n => n.Version == "GLIBCXX_3.4.32");
        var path = TorchNativeLoader.EnsurePatchedCopy(original, [need], _cache);
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Equal(path, TorchNativeLoader.EnsurePatchedCopy(original, [need], _cache));
        Assert.Equal(new FileInfo(original).Length, new FileInfo(path).Length);
    }

    [Fact]
    public void Not_an_elf_file_is_refused()
    {
        Directory.CreateDirectory(_cache);
        var path = Path.Combine(_cache, "x.so");
        File.WriteAllBytes(path, new byte[100]);
        Assert.Throws<InvalidDataException>(() => ElfImage.Open(path));
        File.WriteAllBytes(path, [0x7f, (byte)'E', (byte)'L', (byte)'F', 2, 1]);
        Assert.Throws<InvalidDataException>(() => ElfImage.Open(path));
    }
}
