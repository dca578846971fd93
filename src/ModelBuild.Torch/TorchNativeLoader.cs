using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using ModelBuild.Diagnostics;
using ModelBuild.Torch.Native;
using TorchSharp;

namespace ModelBuild.Torch;

/// <summary>What <see cref="TorchNativeLoader.EnsureLoaded"/> did.</summary>
/// <param name="LibTorchSharpPath">The libLibTorchSharp the package ships (never modified).</param>
/// <param name="PatchedCopyPath">The weakened copy that was loaded instead, or null when none was needed.</param>
/// <param name="WeakenedVersions">The version needs marked weak in that copy (e.g. "libstdc++.so.6:GLIBCXX_3.4.32").</param>
/// <param name="LoadTime">Wall time of the first load, patching included.</param>
public sealed record TorchNativeStatus(
    string? LibTorchSharpPath, string? PatchedCopyPath, IReadOnlyList<string> WeakenedVersions, TimeSpan LoadTime);

/// <summary>
/// Makes TorchSharp's native library loadable before its first use. TorchSharp 0.107.0's libLibTorchSharp.so needs
/// GLIBCXX_3.4.32 for a single marker symbol, which Debian 12 / Ubuntu 22.04 libstdc++ lack; ld.so then refuses
/// the library and TorchSharp reports a misleading "no reference to libtorch-cpu" error. When the only missing
/// versions are such markers, this loads a copy with those needs marked weak (see <see cref="ElfVersionPatcher"/>),
/// kept in a private cache; otherwise it fails with MB2050 naming the missing version.
/// Call <see cref="EnsureLoaded"/> before any other TorchSharp call in the process.
/// </summary>
public static class TorchNativeLoader
{
    private const string LibTorchSharpFile = "libLibTorchSharp.so";
    private static readonly Lock Gate = new();
    private static TorchNativeStatus? _status;
    private static ModelBuildException? _failure;
    private static IntPtr _libTorchSharpHandle;

    /// <summary>Loads libtorch and LibTorchSharp once per process; later calls return the first result (or rethrow its failure).</summary>
    public static TorchNativeStatus EnsureLoaded()
    {
        lock (Gate)
        {
            if (_status is not null) return _status;
            if (_failure is not null) throw _failure;
            try
            {
                return _status = Load();
            }
            catch (ModelBuildException e)
            {
                _failure = e;
                throw;
            }
        }
    }

    /// <summary>The cache root for patched copies: $XDG_CACHE_HOME/modelbuild/torchsharp (or ~/.cache/...).</summary>
    public static string CacheRoot()
    {
        var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
        var root = !string.IsNullOrEmpty(xdg) && Path.IsPathRooted(xdg)
            ? xdg
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
        return Path.Combine(root, "modelbuild", "torchsharp");
    }

    private static TorchNativeStatus Load()
    {
        var clock = Stopwatch.StartNew();
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            // Only linux-x64 ships the affected build; elsewhere TorchSharp's own loader is all there is.
            InitializeTorchSharp(new Dictionary<string, IntPtr>());
            return new TorchNativeStatus(null, null, [], clock.Elapsed);
        }

        var original = FindNative(LibTorchSharpFile)
            ?? throw Unavailable($"{LibTorchSharpFile} was not found next to TorchSharp.dll or in the application's native search paths. " +
                                 "Reference the TorchSharp and libtorch-cpu-linux-x64 packages.");
        var libtorchDir = FindNative("libtorch_cpu.so") is { } cpu ? Path.GetDirectoryName(cpu)! : null;
        if (libtorchDir is null)
            throw Unavailable("libtorch_cpu.so was not found in the application's native search paths. Reference the " +
                "libtorch-cpu-linux-x64 package.");

        var libstdcxx = SystemLibStdCxx();
        var defined = libstdcxx is null ? null : ElfImage.Open(libstdcxx).VersionDefinitions();
        IReadOnlySet<string>? Definitions(string file) => file == "libstdc++.so.6" ? defined : null;

        // libtorch itself must load as is: we only patch what is provably a marker.
        foreach (var dep in LibTorchFiles)
        {
            var path = Path.Combine(libtorchDir, dep);
            if (!File.Exists(path)) continue;
            var depGaps = ElfVersionPatcher.FindGaps(ElfImage.Open(path), Definitions);
            if (depGaps.Count > 0) throw MissingVersions(path, libstdcxx, depGaps);
        }

        var image = ElfImage.Open(original);
        var gaps = ElfVersionPatcher.FindGaps(image, Definitions);
        if (gaps.Any(g => !g.Patchable)) throw MissingVersions(original, libstdcxx, gaps);
        var library = gaps.Count == 0 ? original : EnsurePatchedCopy(original, gaps.Select(g => g.Need).ToList());

        // libtorch first, by full path: LibTorchSharp's NEEDED entries then resolve by soname to these, wherever
        // the packages live (the tool finds them in the NuGet packages folder, not through its deps.json), and a
        // patched copy's RUNPATH ($ORIGIN, the cache) never matters.
        var handles = new Dictionary<string, IntPtr>(StringComparer.Ordinal);
        foreach (var dep in LibTorchFiles)
        {
            var path = Path.Combine(libtorchDir, dep);
            if (!File.Exists(path)) continue;
            if (!NativeLibrary.TryLoad(path, out var handle))
                throw Unavailable($"{path} could not be loaded (dlopen failed).");
            handles[Path.GetFileNameWithoutExtension(dep)[3..]] = handle;
        }
        if (!NativeLibrary.TryLoad(library, out _libTorchSharpHandle))
            throw Unavailable(library == original
                ? $"{original} could not be loaded (dlopen failed)."
                : $"the patched copy {library} of {original} could not be loaded.");
        handles["LibTorchSharp"] = _libTorchSharpHandle;
        InitializeTorchSharp(handles);
        return new TorchNativeStatus(original, library == original ? null : library,
            gaps.Select(g => $"{g.Need.File}:{g.Need.Version}").ToList(), clock.Elapsed);
    }

    private static readonly string[] LibTorchFiles = ["libc10.so", "libtorch_cpu.so", "libtorch.so"];

    /// <summary>The cached weakened copy for this exact original, created (atomically) if missing or wrong.</summary>
    internal static string EnsurePatchedCopy(string original, IReadOnlyList<ElfVersionNeed> needs, string? cacheRoot = null)
    {
        var bytes = File.ReadAllBytes(original);
        var hash = Convert.ToHexStringLower(SHA256.HashData(bytes));
        var target = Path.Combine(cacheRoot ?? CacheRoot(), hash, LibTorchSharpFile);
        if (File.Exists(target) && IsExpectedCopy(bytes, target, needs)) return target;
        try
        {
            ElfVersionPatcher.WriteWeakenedCopy(original, target, needs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw Unavailable($"could not write the patched copy of {original} to {target}: {e.Message}. " +
                              "Set XDG_CACHE_HOME to a writable folder.");
        }
        if (!IsExpectedCopy(bytes, target, needs))
            throw Unavailable($"the patched copy {target} does not match its original {original} after writing.");
        return target;
    }

    // The copy must equal the original except for the weak bit of the given needs' flags.
    private static bool IsExpectedCopy(byte[] original, string copyPath, IReadOnlyList<ElfVersionNeed> needs)
    {
        var copy = File.ReadAllBytes(copyPath);
        if (copy.Length != original.Length) return false;
        var expected = (byte[])original.Clone();
        foreach (var n in needs) expected[n.FlagsFileOffset] |= (byte)ElfImage.VerFlagWeak;
        return expected.AsSpan().SequenceEqual(copy);
    }

    // Names TorchSharp asks for (LibTorchSharp, torch_cpu, c10, torch, with or without lib/.so) → the handles loaded here.
    private static void InitializeTorchSharp(IReadOnlyDictionary<string, IntPtr> handles)
    {
        if (handles.Count > 0)
        {
            try
            {
                // P/Invokes and TorchSharp's own NativeLibrary.TryLoad calls bind to what we loaded, whatever the probing would find.
                NativeLibrary.SetDllImportResolver(typeof(torch).Assembly, (name, _, _) =>
                    handles.TryGetValue(BareName(name), out var handle) ? handle : IntPtr.Zero);
            }
            catch (InvalidOperationException)
            {
                // Someone set a resolver already; the preloaded libraries still satisfy the soname lookups.
            }
        }
        try
        {
            torch.InitializeDeviceType(DeviceType.CPU);
        }
        catch (Exception e) when (e is NotSupportedException or TypeInitializationException or DllNotFoundException)
        {
            throw Unavailable($"TorchSharp's native backend did not initialize: {FirstLine(e)}");
        }
    }

    private static string BareName(string name)
    {
        var file = Path.GetFileName(name);
        if (file.EndsWith(".so", StringComparison.Ordinal)) file = file[..^3];
        return file.StartsWith("lib", StringComparison.Ordinal) ? file[3..] : file;
    }

    private static string FirstLine(Exception e)
    {
        var inner = e;
        while (inner.InnerException is not null) inner = inner.InnerException;
        var line = inner.Message.Split('\n')[0];
        return line.Length > 300 ? line[..300] + "…" : line;
    }

    private static readonly List<string> ExtraDirectories = [];

    /// <summary>
    /// Folders searched first for libLibTorchSharp and libtorch: the tool hands in the NuGet package folders where it
    /// found TorchSharp and libtorch, since they are not in its deps.json. Call before <see cref="EnsureLoaded"/>.
    /// </summary>
    public static void AddSearchDirectories(IEnumerable<string> directories)
    {
        lock (Gate) ExtraDirectories.AddRange(directories);
    }

    /// <summary>
    /// Where the process would find a native file: the folders handed in, the deps.json native search directories, then beside TorchSharp.dll.
    /// </summary>
    internal static string? FindNative(string file)
    {
        var dirs = new List<string>(ExtraDirectories);
        if (AppContext.GetData("NATIVE_DLL_SEARCH_DIRECTORIES") is string list)
            dirs.AddRange(list.Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries));
        var asmDir = Path.GetDirectoryName(typeof(torch).Assembly.Location);
        if (!string.IsNullOrEmpty(asmDir))
        {
            dirs.Add(asmDir);
            dirs.Add(Path.Combine(asmDir, "runtimes", "linux-x64", "native"));
            // Running from the NuGet cache: torchsharp/<v>/lib/<tfm>/TorchSharp.dll → torchsharp/<v>/runtimes/...
            dirs.Add(Path.Combine(asmDir, "..", "..", "runtimes", "linux-x64", "native"));
        }
        return dirs.Select(d => Path.Combine(d, file)).Where(File.Exists).Select(Path.GetFullPath).FirstOrDefault();
    }

    /// <summary>The libstdc++.so.6 this process uses: the mapped one if loaded (the .NET runtime links it), else the usual folders.</summary>
    internal static string? SystemLibStdCxx()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/maps"))
            {
                var slash = line.IndexOf('/');
                if (slash < 0) continue;
                var path = line[slash..];
                if (Path.GetFileName(path).StartsWith("libstdc++.so.6", StringComparison.Ordinal)) return path;
            }
        }
        catch (IOException) { }
        foreach (var dir in new[] { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib" })
        {
            var path = Path.Combine(dir, "libstdc++.so.6");
            if (File.Exists(path)) return path;
        }
        return null;
    }

    internal static ModelBuildException MissingVersions(string library, string? libstdcxx, IReadOnlyList<ElfVersionGap> gaps)
    {
        var have = libstdcxx is null
            ? ""
            : $" The system's {libstdcxx} provides up to {NewestGlibcxx(libstdcxx)}.";
        var lines = string.Join("; ", gaps.Select(g =>
            $"{g.Need.Version} not found (required by {Path.GetFileName(library)} from {g.Need.File}; {g.Reason})"));
        return Unavailable($"{library}: {lines}.{have} Remedy: run on a system whose libstdc++ provides these versions " +
                           "(GCC 13 or newer runtime, e.g. Debian 13 / Ubuntu 24.04), or put such a libstdc++.so.6 on LD_LIBRARY_PATH.");
    }

    private static string NewestGlibcxx(string libstdcxx)
    {
        try
        {
            return ElfImage.Open(libstdcxx).VersionDefinitions()
                .Where(v => v.StartsWith("GLIBCXX_", StringComparison.Ordinal))
                .OrderBy(v => Version.TryParse(v["GLIBCXX_".Length..], out var ver) ? ver : new Version())
                .LastOrDefault() ?? "no GLIBCXX version";
        }
        catch (InvalidDataException) { return "an unreadable version table"; }
    }

    private static ModelBuildException Unavailable(string message) =>
        new(DiagnosticCodes.TorchRuntimeUnavailable, $"TorchSharp cannot run here: {message}");
}
