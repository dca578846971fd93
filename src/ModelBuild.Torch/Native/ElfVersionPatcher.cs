namespace ModelBuild.Torch.Native;

/// <summary>A version a library needs that the system's provider of that file does not define.</summary>
/// <param name="Need">The .gnu.version_r entry.</param>
/// <param name="Symbols">Dynamic symbols bound to that version.</param>
/// <param name="Patchable">True when marking the entry weak is sound (see <see cref="ElfVersionPatcher"/>).</param>
/// <param name="Reason">Why it is or is not patchable, for messages.</param>
public sealed record ElfVersionGap(ElfVersionNeed Need, IReadOnlyList<string> Symbols, bool Patchable, string Reason);

/// <summary>
/// Finds versions a library needs but the system lacks, and writes a copy whose needs for them are marked
/// VER_FLG_WEAK. ld.so then accepts the library when the version is missing (glibc's _dl_check_map_versions only
/// fails on non-weak needs). That is sound only when nothing binds to the version at run time: every symbol using
/// it must be an undefined marker symbol (no code calls it) that no relocation refers to.
/// </summary>
public static class ElfVersionPatcher
{
    /// <summary>
    /// Symbols known to be markers. GCC 13+ emits a reference to std::ios_base_library_init() (GLIBCXX_3.4.32)
    /// in objects that include &lt;iostream&gt;, so the iostream init runs in libstdc++; older libstdc++ runs it
    /// from its own static constructor, so the reference carries no behaviour on those systems.
    /// </summary>
    public static readonly IReadOnlySet<string> MarkerSymbols = new HashSet<string>(StringComparer.Ordinal)
    {
        "_ZSt21ios_base_library_initv",
    };

    /// <summary>
    /// The needs of <paramref name="library"/> that are not weak and whose version the provider does not define.
    /// <paramref name="definitionsOf"/> returns the versions a needed file (e.g. "libstdc++.so.6") defines on this
    /// system, or null to skip that file.
    /// </summary>
    public static IReadOnlyList<ElfVersionGap> FindGaps(ElfImage library, Func<string, IReadOnlySet<string>?> definitionsOf)
    {
        var needs = library.VersionNeeds();
        List<ElfDynamicSymbol>? symbols = null;
        IReadOnlySet<int>? relocated = null;
        var gaps = new List<ElfVersionGap>();
        foreach (var need in needs)
        {
            if (need.IsWeak) continue;
            var defined = definitionsOf(need.File);
            if (defined is null || defined.Contains(need.Version)) continue;

            symbols ??= library.DynamicSymbols().ToList();
            relocated ??= library.RelocatedSymbols();
            var users = symbols.Where(s => s.VersionIndex == need.Index && s.Index != 0).ToList();
            var names = users.Select(s => s.Name).ToList();
            string? problem = null;
            foreach (var s in users)
            {
                if (s.IsDefined) problem = $"the library defines {s.Name} at that version";
                else if (!MarkerSymbols.Contains(s.Name)) problem = $"code uses {s.Name}@{need.Version}";
                else if (relocated.Contains(s.Index)) problem = $"a relocation binds {s.Name}@{need.Version}";
                if (problem is not null) break;
            }
            gaps.Add(problem is null
                ? new ElfVersionGap(need, names, true,
                    names.Count == 0 ? "no symbol uses it" : $"only the marker symbol {string.Join(", ", names)} uses it")
                : new ElfVersionGap(need, names, false, problem));
        }
        return gaps;
    }

    /// <summary>
    /// Writes <paramref name="source"/> to <paramref name="destination"/> with the given needs marked weak (one byte
    /// each, the low byte of vna_flags). Written to a temporary file beside the destination and renamed into place,
    /// so a reader never sees a half-written library. The source is never modified.
    /// </summary>
    public static void WriteWeakenedCopy(string source, string destination, IEnumerable<ElfVersionNeed> needs)
    {
        var dir = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(destination))!;
        Directory.CreateDirectory(dir);
        var temp = System.IO.Path.Combine(dir, $".{System.IO.Path.GetFileName(destination)}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp");
        try
        {
            File.Copy(source, temp, overwrite: true);
            using (var stream = new FileStream(temp, FileMode.Open, FileAccess.ReadWrite))
            {
                Span<byte> flags = stackalloc byte[2];
                foreach (var need in needs)
                {
                    stream.Position = need.FlagsFileOffset;
                    stream.ReadExactly(flags);
                    var value = (ushort)(flags[0] | flags[1] << 8);
                    value |= ElfImage.VerFlagWeak;
                    flags[0] = (byte)value;
                    flags[1] = (byte)(value >> 8);
                    stream.Position = need.FlagsFileOffset;
                    stream.Write(flags);
                }
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, destination, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
