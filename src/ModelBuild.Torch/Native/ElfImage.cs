using System.Buffers.Binary;
using System.Text;

namespace ModelBuild.Torch.Native;

/// <summary>One version a library needs from another (an Elf64_Vernaux entry of .gnu.version_r).</summary>
public sealed record ElfVersionNeed(string File, string Version, ushort Flags, ushort Index, long FlagsFileOffset)
{
    public bool IsWeak => (Flags & ElfImage.VerFlagWeak) != 0;
}

/// <summary>A dynamic symbol and the version index .gnu.version gives it.</summary>
public sealed record ElfDynamicSymbol(int Index, string Name, bool IsDefined, ushort VersionIndex);

/// <summary>
/// A read-only view of the parts of an ELF64 little-endian shared library that the dynamic loader's version check
/// uses: .gnu.version_r (needs), .gnu.version_d (definitions), .dynsym + .gnu.version, and the relocation tables.
/// Reads sections on demand by offset, so a 460 MB libtorch_cpu.so is not loaded whole.
/// </summary>
public sealed class ElfImage
{
    public const uint ShtRela = 4;
    public const uint ShtRel = 9;
    public const uint ShtDynsym = 11;
    public const uint ShtGnuVerdef = 0x6ffffffd;
    public const uint ShtGnuVerneed = 0x6ffffffe;
    public const uint ShtGnuVersym = 0x6fffffff;
    public const ushort VerFlagWeak = 0x2;

    // Sections we read are small (a few MB at most); anything claiming more is not a library we understand.
    private const long MaxSectionBytes = 256L * 1024 * 1024;

    private readonly string _path;

    private readonly long _length;

    private ElfImage(string path, List<Section> sections, long length)
    {
        _path = path;
        _length = length;
        Sections = sections;
    }

    private byte[] Load(Section s)
    {
        if (s.Bytes is not null) return s.Bytes;
        if (s.Type == 8) return s.Bytes = []; // SHT_NOBITS
        if (s.Size > MaxSectionBytes)
            throw new InvalidDataException($"{_path}: section {s.Name} is implausibly large ({s.Size} bytes).");
        using var stream = File.OpenRead(_path);
        if (stream.Length != _length) throw new InvalidDataException($"{_path} changed while being read.");
        return s.Bytes = ReadAt(stream, s.Offset, s.Size, _length);
    }

    public string Path => _path;
    internal IReadOnlyList<Section> Sections { get; }

    internal sealed record Section(string Name, uint Type, long Offset, long Size, uint Link, uint Info, long EntrySize)
    {
        public byte[]? Bytes { get; set; }
    }

    /// <summary>
    /// Reads the ELF header and section table of <paramref name="path"/>; throws <see cref="InvalidDataException"/> if it is not an ELF64 LE file.
    /// </summary>
    public static ElfImage Open(string path)
    {
        using var stream = File.OpenRead(path);
        var length = stream.Length;
        var header = ReadAt(stream, 0, 64, length);
        if (header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F')
            throw new InvalidDataException($"{path} is not an ELF file.");
        if (header[4] != 2 || header[5] != 1)
            throw new InvalidDataException($"{path} is not a 64-bit little-endian ELF file.");
        var shoff = (long)BinaryPrimitives.ReadUInt64LittleEndian(header.AsSpan(40));
        var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(58));
        var shnum = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(60));
        var shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(header.AsSpan(62));
        if (shnum == 0 || shentsize < 64 || shstrndx >= shnum)
            throw new InvalidDataException($"{path} has no usable section header table.");
        var table = ReadAt(stream, shoff, (long)shnum * shentsize, length);

        var raw = new List<(uint name, uint type, long off, long size, uint link, uint info, long entsize)>();
        for (var i = 0; i < shnum; i++)
        {
            var s = table.AsSpan(i * shentsize, 64);
            raw.Add((BinaryPrimitives.ReadUInt32LittleEndian(s), BinaryPrimitives.ReadUInt32LittleEndian(s[4..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(s[24..]), (long)BinaryPrimitives.ReadUInt64LittleEndian(s[32..]),
                BinaryPrimitives.ReadUInt32LittleEndian(s[40..]), BinaryPrimitives.ReadUInt32LittleEndian(s[44..]),
                (long)BinaryPrimitives.ReadUInt64LittleEndian(s[56..])));
        }
        var shstr = raw[shstrndx];
        var names = ReadAt(stream, shstr.off, shstr.size, length);
        var sections = raw.Select(r => new Section(CString(names, r.name), r.type, r.off, r.size, r.link, r.info, r.entsize)).ToList();

        // Version sections are tiny: read them now. Symbols and relocations load on first use (Load).
        var image = new ElfImage(path, sections, length);
        foreach (var s in sections.Where(s => s.Type is ShtGnuVerneed or ShtGnuVerdef))
        {
            image.Load(s);
            if (s.Link < sections.Count) image.Load(sections[(int)s.Link]);
        }
        return image;
    }

    /// <summary>Every (file, version) this library needs, in .gnu.version_r order.</summary>
    public IReadOnlyList<ElfVersionNeed> VersionNeeds()
    {
        var result = new List<ElfVersionNeed>();
        foreach (var sec in Sections.Where(s => s.Type == ShtGnuVerneed))
        {
            var data = sec.Bytes!;
            var strtab = StringTable(sec);
            long pos = 0;
            // sh_info is the entry count; vn_next == 0 also ends the chain. Both bound the walk.
            for (var n = 0; n < Math.Max(1, sec.Info) && n < 4096; n++)
            {
                Require(pos, 16, data.Length, sec);
                var vn = data.AsSpan((int)pos);
                var cnt = BinaryPrimitives.ReadUInt16LittleEndian(vn[2..]);
                var file = CString(strtab, BinaryPrimitives.ReadUInt32LittleEndian(vn[4..]));
                var aux = BinaryPrimitives.ReadUInt32LittleEndian(vn[8..]);
                var next = BinaryPrimitives.ReadUInt32LittleEndian(vn[12..]);
                var apos = pos + aux;
                for (var a = 0; a < cnt; a++)
                {
                    Require(apos, 16, data.Length, sec);
                    var va = data.AsSpan((int)apos);
                    var flags = BinaryPrimitives.ReadUInt16LittleEndian(va[4..]);
                    var other = BinaryPrimitives.ReadUInt16LittleEndian(va[6..]);
                    var name = CString(strtab, BinaryPrimitives.ReadUInt32LittleEndian(va[8..]));
                    result.Add(new ElfVersionNeed(file, name, flags, other, sec.Offset + apos + 4));
                    var anext = BinaryPrimitives.ReadUInt32LittleEndian(va[12..]);
                    if (anext == 0) break;
                    apos += anext;
                }
                if (next == 0) break;
                pos += next;
            }
        }
        return result;
    }

    /// <summary>The version names this library defines (.gnu.version_d), e.g. GLIBCXX_3.4.30 for libstdc++.</summary>
    public IReadOnlySet<string> VersionDefinitions()
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        foreach (var sec in Sections.Where(s => s.Type == ShtGnuVerdef))
        {
            var data = sec.Bytes!;
            var strtab = StringTable(sec);
            long pos = 0;
            for (var n = 0; n < Math.Max(1, sec.Info) && n < 4096; n++)
            {
                Require(pos, 20, data.Length, sec);
                var vd = data.AsSpan((int)pos);
                var cnt = BinaryPrimitives.ReadUInt16LittleEndian(vd[6..]);
                var aux = BinaryPrimitives.ReadUInt32LittleEndian(vd[12..]);
                var next = BinaryPrimitives.ReadUInt32LittleEndian(vd[16..]);
                if (cnt > 0)
                {
                    // The first Verdaux names the version itself; later ones name its parents.
                    Require(pos + aux, 8, data.Length, sec);
                    result.Add(CString(strtab, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan((int)(pos + aux)))));
                }
                if (next == 0) break;
                pos += next;
            }
        }
        return result;
    }

    /// <summary>The dynamic symbols with their version indices (hidden bit stripped).</summary>
    public IReadOnlyList<ElfDynamicSymbol> DynamicSymbols()
    {
        var dynsym = Sections.FirstOrDefault(s => s.Type == ShtDynsym);
        if (dynsym is null) return [];
        var symbytes = Load(dynsym);
        var versymSection = Sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
        var versym = versymSection is null ? null : Load(versymSection);
        var strtab = StringTable(dynsym);
        var count = symbytes.Length / 24;
        var result = new List<ElfDynamicSymbol>(count);
        for (var i = 0; i < count; i++)
        {
            var s = symbytes.AsSpan(i * 24, 24);
            var name = CString(strtab, BinaryPrimitives.ReadUInt32LittleEndian(s));
            var shndx = BinaryPrimitives.ReadUInt16LittleEndian(s[6..]);
            ushort ver = 0;
            if (versym is not null && (i + 1) * 2 <= versym.Length)
                ver = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(versym.AsSpan(i * 2)) & 0x7fff);
            result.Add(new ElfDynamicSymbol(i, name, shndx != 0, ver));
        }
        return result;
    }

    /// <summary>Indices of dynamic symbols that some relocation (.rela.dyn, .rela.plt) refers to.</summary>
    public IReadOnlySet<int> RelocatedSymbols()
    {
        var result = new HashSet<int>();
        var dynsymIndex = Sections.ToList().FindIndex(s => s.Type == ShtDynsym);
        foreach (var sec in Sections.Where(s => s.Type is ShtRela or ShtRel && s.Link == dynsymIndex))
        {
            var entry = sec.Type == ShtRela ? 24 : 16;
            var data = Load(sec);
            for (var off = 0; off + entry <= data.Length; off += entry)
            {
                var info = BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(off + 8));
                var sym = (int)(info >> 32);
                if (sym != 0) result.Add(sym);
            }
        }
        return result;
    }

    private byte[] StringTable(Section sec)
    {
        if (sec.Link == 0 || sec.Link >= Sections.Count)
            throw new InvalidDataException($"{_path}: section {sec.Name} links to no string table.");
        return Load(Sections[(int)sec.Link]);
    }

    private void Require(long pos, int size, int length, Section sec)
    {
        if (pos < 0 || pos + size > length)
            throw new InvalidDataException($"{_path}: section {sec.Name} is truncated or has a bad link offset.");
    }

    private static string CString(byte[] table, uint offset)
    {
        if (offset >= table.Length) return "";
        var end = Array.IndexOf(table, (byte)0, (int)offset);
        if (end < 0) end = table.Length;
        return Encoding.ASCII.GetString(table, (int)offset, end - (int)offset);
    }

    private static byte[] ReadAt(FileStream stream, long offset, long size, long fileLength)
    {
        if (offset < 0 || size < 0 || size > MaxSectionBytes || offset + size > fileLength)
            throw new InvalidDataException($"{stream.Name}: ELF offset {offset}+{size} lies outside the file ({fileLength} bytes).");
        var buffer = new byte[size];
        stream.Position = offset;
        stream.ReadExactly(buffer);
        return buffer;
    }
}
